"""The organisation profile: one row, edited by Legal; regulator reports and external documents print it."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from incidents.models import OrganisationProfile
from incidents.models.organisation import LOGO_MAX_BYTES, logo_content_type
from incidents.services import record_save

AUDITED_FIELDS = [
    "legal_name",
    "address",
    "registration_numbers",
    "contact_name",
    "contact_role",
    "contact_email",
    "contact_phone",
    "logo_content_type",
    "marking_internal",
    "marking_public",
    "marking_regulator",
]


class OrganisationProfileForm(forms.ModelForm):
    logo_file = forms.FileField(
        label="Logo", required=False, help_text="PNG or JPEG, at most 512 KB; printed at the top of every document."
    )
    remove_logo = forms.BooleanField(required=False, label="Remove the logo")

    class Meta:
        model = OrganisationProfile
        fields = [
            "legal_name",
            "address",
            "registration_numbers",
            "contact_name",
            "contact_role",
            "contact_email",
            "contact_phone",
            "marking_internal",
            "marking_public",
            "marking_regulator",
        ]

    def clean_logo_file(self):
        upload = self.cleaned_data.get("logo_file")
        if not upload:
            return None
        if upload.size > LOGO_MAX_BYTES:
            raise forms.ValidationError("The logo is larger than 512 KB.")
        data = upload.read()
        content_type = logo_content_type(data)
        if content_type is None:
            raise forms.ValidationError("Upload a PNG or JPEG image.")
        return data, content_type


@admin.register(OrganisationProfile)
class OrganisationProfileAdmin(admin.ModelAdmin):
    form = OrganisationProfileForm
    fieldsets = [
        ("Reporting organisation", {"fields": ["legal_name", "address", "registration_numbers"]}),
        ("Contact point", {"fields": ["contact_name", "contact_role", "contact_email", "contact_phone"]}),
        ("Logo", {"fields": ["logo_preview", "logo_file", "remove_logo"]}),
        ("Classification markings", {"fields": ["marking_internal", "marking_public", "marking_regulator"]}),
        ("Status", {"fields": ["missing"]}),
    ]
    readonly_fields = ["logo_preview", "missing"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not OrganisationProfile.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        # One row: the list is its form.
        profile = OrganisationProfile.objects.filter(pk=1).first()
        if profile is not None:
            return HttpResponseRedirect(reverse("admin:incidents_organisationprofile_change", args=[profile.pk]))
        return HttpResponseRedirect(reverse("admin:incidents_organisationprofile_add"))

    @admin.display(description="logo")
    def logo_preview(self, obj):
        if obj is None or not obj.has_logo:
            return "No logo."
        return f"{obj.logo_content_type}, {len(obj.logo)} bytes"

    @admin.display(description="regulator reports")
    def missing(self, obj):
        missing = obj.missing_for_regulators() if obj is not None else ["everything"]
        if not missing:
            return "Complete: regulator reports print the organisation and its contact point."
        return format_html(
            '<b style="color:#c00">Regulator reports say they are not ready to send: missing {}.</b>',
            ", ".join(missing),
        )

    def save_model(self, request, obj, form, change):
        logo = form.cleaned_data.get("logo_file")
        if form.cleaned_data.get("remove_logo"):
            obj.logo, obj.logo_content_type = b"", ""
        elif logo:
            obj.logo, obj.logo_content_type = logo
        record_save(instance=obj, actor=request.user, fields=AUDITED_FIELDS)
