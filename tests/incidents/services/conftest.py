# The drill fixtures, for the drill cases of the workflow kernel's tests.
from tests.drills.conftest import facilitator, scenario, scheduled_drill  # noqa: F401
