"""Declare an incident from anywhere in the admin: one screen, then straight to the incident page.

A mixin for IncidentAdmin. The form collects what the triage matrix needs; incident_open sets the
severity and starts paging, exactly as the add form does.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from incidents.constants import CATEGORY_HELP, Category
from incidents.services import incident_open

from .forms import DeclareIncidentForm


class DeclareIncidentAdminMixin:
    def get_urls(self):
        own = [
            path("declare/", self.admin_site.admin_view(self.declare_view), name="incidents_incident_declare"),
        ]
        return own + super().get_urls()

    def declare_view(self, request):
        if not request.user.has_perm("incidents.add_incident"):
            raise PermissionDenied("You may not declare incidents.")
        if request.method == "POST":
            form = DeclareIncidentForm(request.POST)
            if form.is_valid():
                try:
                    incident = incident_open(actor=request.user, **form.service_kwargs())
                except ValidationError as exc:
                    _attach(form, exc)
                else:
                    # Who was paged (or why nobody could be) is on the incident page's paging card.
                    self.message_user(request, f"{incident.reference} declared: {incident.severity}.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[incident.pk]))
        else:
            form = DeclareIncidentForm(initial={"commander": request.user.pk})
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Declare incident",
            "form": form,
            "category_help": [(label, CATEGORY_HELP[value]) for value, label in Category.choices],
        }
        return TemplateResponse(request, "admin/incidents/incident/declare.html", context)


def _attach(form, exc: ValidationError) -> None:
    """Put the service's validation errors beside the fields they are about; the rest on top."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for name, errors in exc.error_dict.items():
        form.add_error(name if name in form.fields else None, errors)
