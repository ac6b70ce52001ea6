from django.core.exceptions import ValidationError


class IncidentChanged(ValidationError):
    """Someone else changed the incident between page load and this action."""

    def __init__(self):
        super().__init__("This incident changed since you opened it; reload the page and try again.", code="stale")
