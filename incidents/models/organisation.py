"""The organisation that reports: one row, edited by Legal in the admin, printed on every external document.

Regulator reports name the reporting organisation by its legal name, address and registration numbers,
and give a contact point for the authority; nothing prints the product's own name ("Fireline") as the
organisation. Each audience has its own default classification marking: internal documents carry the
confidential one, public documents say "Public", regulator reports carry the regulator marking unless
the regime sets its own.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

DEFAULT_INTERNAL_MARKING = "Confidential — prepared at the direction of counsel"
DEFAULT_PUBLIC_MARKING = "Public"
DEFAULT_REGULATOR_MARKING = "Confidential — submitted to a supervisory authority"

# The product's own name is never the reporting organisation: a settings value equal to it counts as unset.
PRODUCT_NAME = "Fireline"

LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
LOGO_MAX_BYTES = 512 * 1024


def logo_content_type(data: bytes) -> str | None:
    """The image type of a logo file from its first bytes (PNG or JPEG only), else None."""
    for magic, content_type in LOGO_TYPES.items():
        if data.startswith(magic):
            return content_type
    return None


class OrganisationProfile(models.Model):
    """Who the organisation is, for regulators and the public: one row (its primary key is always 1)."""

    legal_name = models.CharField(
        max_length=200, blank=True, help_text="As registered; printed as the reporting organisation."
    )
    address = models.TextField(blank=True, help_text="Registered address, as it should be printed.")
    registration_numbers = models.TextField(
        blank=True, help_text="One per line, e.g. 'Company number: 01234567' or 'LEI: 5493001KJTIIGC8Y1R12'."
    )
    contact_name = models.CharField(
        "contact point for regulators", max_length=200, blank=True, help_text="A person or a function."
    )
    contact_role = models.CharField(max_length=200, blank=True, help_text="e.g. Data Protection Officer.")
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=50, blank=True)
    # The logo is kept in the database: the PDF renderer reads it from here, never from a path or URL.
    logo = models.BinaryField(blank=True, default=b"", editable=False)
    logo_content_type = models.CharField(max_length=32, blank=True, editable=False)
    marking_internal = models.CharField(
        "internal marking",
        max_length=200,
        default=DEFAULT_INTERNAL_MARKING,
        help_text="Printed on every page of internal documents.",
    )
    marking_public = models.CharField(
        "public marking", max_length=200, default=DEFAULT_PUBLIC_MARKING, help_text="Printed on public documents."
    )
    marking_regulator = models.CharField(
        "regulator marking",
        max_length=200,
        default=DEFAULT_REGULATOR_MARKING,
        help_text="Printed on regulator reports, unless the regime sets its own marking.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "organisation profile"
        verbose_name_plural = "organisation profile"
        constraints = [models.CheckConstraint(condition=Q(id=1), name="organisation_profile_single_row")]

    def __str__(self) -> str:
        return self.legal_name or "Organisation profile (not filled in)"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def current(cls) -> OrganisationProfile:
        """The saved profile, or an unsaved one with the defaults (the legal name from settings, if set)."""
        profile = cls.objects.filter(pk=1).first()
        if profile is None:
            profile = cls(pk=1, legal_name=settings_organisation_name())
        return profile

    @property
    def name(self) -> str:
        return self.legal_name.strip()

    @property
    def registration_lines(self) -> list[str]:
        return [line.strip() for line in self.registration_numbers.splitlines() if line.strip()]

    @property
    def has_logo(self) -> bool:
        return bool(self.logo) and bool(self.logo_content_type)

    def missing_for_regulators(self) -> list[str]:
        """What a regulator report needs from the profile and it does not have yet."""
        missing = []
        if not self.name:
            missing.append("legal name")
        if not self.address.strip():
            missing.append("address")
        if not (self.contact_name.strip() and (self.contact_email.strip() or self.contact_phone.strip())):
            missing.append("contact point for regulators (name and email or phone)")
        return missing


def settings_organisation_name() -> str:
    """FIRELINE_ORGANISATION_NAME, unless it is the product's own name (the shipped default)."""
    name = (getattr(settings, "FIRELINE_ORGANISATION_NAME", "") or "").strip()
    return "" if name == PRODUCT_NAME else name
