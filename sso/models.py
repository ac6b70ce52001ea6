from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models


class GroupMapping(models.Model):
    """A group at the identity provider that grants a Fireline role (a Django group) at sign-in."""

    provider_group = models.CharField(
        max_length=255,
        help_text="The group's name exactly as the provider sends it in the groups claim.",
    )
    group = models.ForeignKey(
        Group,
        on_delete=models.CASCADE,
        related_name="provider_mappings",
        verbose_name="Fireline role",
        help_text="The role people in that provider group get in Fireline.",
    )

    class Meta:
        ordering = ["provider_group", "group__name"]
        constraints = [
            models.UniqueConstraint(fields=["provider_group", "group"], name="sso_groupmapping_unique"),
        ]
        verbose_name = "provider group mapping"

    def __str__(self) -> str:
        return f"{self.provider_group} → {self.group.name}"


class ProviderIdentity(models.Model):
    """Which person at the provider (issuer and subject, never a name they can change) a user is."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="provider_identity")
    issuer = models.CharField(max_length=500)
    subject = models.CharField(max_length=255)
    last_login_groups = models.JSONField(default=list, blank=True, help_text="The groups claim at the last sign-in.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="sso_provideridentity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"
