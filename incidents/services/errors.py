from django.core.exceptions import ValidationError


class RowChanged(ValidationError):
    """Someone else changed the row (a drill, a post-mortem, ...) between page load and this action."""

    def __init__(self, noun: str):
        super().__init__(f"Someone changed this {noun} meanwhile; reload and try again.", code="stale")


class IncidentChanged(RowChanged):
    """Someone else changed the incident between page load and this action."""

    def __init__(self):
        ValidationError.__init__(
            self, "This incident changed since you opened it; reload the page and try again.", code="stale"
        )
