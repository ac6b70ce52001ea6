"""What each person chose for their own screens."""

from django.conf import settings
from django.db import models


class UserPreference(models.Model):
    """What one person chose for their own screens: their time zone and which incident-page cards stay open.

    The time zone starts empty: the first admin page a person opens reads their browser's zone and
    stores it (`time_zone_source` "browser"); choosing one on the preferences page makes it "chosen",
    and a browser never overrides a chosen zone.
    """

    class ZoneSource(models.TextChoices):
        BROWSER = "browser", "From the browser"
        CHOSEN = "chosen", "Chosen by the user"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="fireline_preference", verbose_name="user"
    )
    time_zone = models.CharField(
        max_length=64, blank=True, help_text="An IANA zone name such as Europe/Berlin; empty uses the server's zone."
    )
    time_zone_source = models.CharField(max_length=16, choices=ZoneSource.choices, blank=True)
    open_cards = models.JSONField(
        default=dict, blank=True, help_text="Per page, the cards this person opened or closed: {page: {card: open}}."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "user preference"

    def __str__(self) -> str:
        return f"Preferences of {self.user}"
