"""The incident page's command panel: transitions (Close and Dismiss with their decisions), containment
and its revert, page acknowledgements and timeline notes, each a POST view under the incident's URL.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse

from incidents.models import Incident
from incidents.models.guards import OPEN_PAGE_STATES, unattended_containment
from incidents.selectors import visible_incidents
from incidents.services import (
    TRANSITION_SERVICES,
    containment_record,
    containment_revert,
    timeline_add_note,
)
from incidents.services.containment import incident_close_settled, incident_dismiss_settled
from incidents.services.escalation import page_acknowledge

from .forms import ContainmentForm, RevertForm, TimelineNoteForm, TransitionForm, staff_users
from .forms import error_text as _error_text


def _form_errors(form) -> str:
    return " ".join(
        f"{form[name].label if name in form.fields else 'Form'}: {' '.join(errors)}"
        for name, errors in form.errors.items()
    )


class IncidentCommandPanelAdminMixin:
    """The incident admin's own URLs and the POST views behind the command panel's buttons."""

    def get_urls(self):
        own = [
            path(
                "<int:pk>/transition/<str:name>/",
                self.admin_site.admin_view(self.transition_view),
                name="incidents_incident_transition",
            ),
            path(
                "<int:pk>/containment/",
                self.admin_site.admin_view(self.containment_view),
                name="incidents_incident_containment",
            ),
            path(
                "<int:pk>/containment/<int:action_id>/revert/",
                self.admin_site.admin_view(self.revert_view),
                name="incidents_incident_revert",
            ),
            path(
                "<int:pk>/pages/<int:page_id>/ack/",
                self.admin_site.admin_view(self.page_ack_view),
                name="incidents_incident_page_ack",
            ),
            path(
                "<int:pk>/timeline/", self.admin_site.admin_view(self.timeline_view), name="incidents_incident_timeline"
            ),
        ]
        return own + self.followup_urls() + self.investigation_urls() + super().get_urls()

    def _visible_or_404(self, request, pk) -> Incident:
        try:
            return visible_incidents(user=request.user).get(pk=pk)
        except Incident.DoesNotExist as exc:
            raise Http404("No such incident.") from exc

    def _back(self, pk):
        return HttpResponseRedirect(reverse("admin:incidents_incident_change", args=[pk]))

    def _run(self, request, pk, func, success: str):
        try:
            func()
        except (Incident.DoesNotExist, Http404) as exc:
            raise Http404("No such incident.") from exc
        except PermissionDenied as exc:
            self.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, _error_text(exc), messages.ERROR)
        else:
            self.message_user(request, success, messages.SUCCESS)
        return self._back(pk)

    def transition_view(self, request, pk, name):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        service = TRANSITION_SERVICES.get(name)
        if service is None:
            raise Http404("No such transition.")
        form = TransitionForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "The form was incomplete; reload the page.", messages.ERROR)
            return self._back(pk)
        kwargs = {
            "incident_id": incident.pk,
            "actor": request.user,
            "expected_state": form.cleaned_data["expected_state"],
        }
        if name in ("investigate_without_containment", "reopen"):
            kwargs["reason"] = form.cleaned_data["reason"]
        if name == "close":
            return self._close(request, incident, kwargs)
        if name == "dismiss":
            kwargs["containment"], kwargs["pages"] = self._settle_decisions(request, incident)
            service = incident_dismiss_settled
            kwargs["reason"] = form.cleaned_data["dismiss_reason"]
            kwargs["note"] = form.cleaned_data["reason"]
            dup_id = form.cleaned_data.get("duplicate_of")
            if dup_id:
                duplicate = visible_incidents(user=request.user).filter(pk=dup_id).first()
                if duplicate is None:
                    self.message_user(request, f"Duplicate of: no incident INC-{dup_id}.", messages.ERROR)
                    return self._back(pk)
                kwargs["duplicate_of"] = duplicate
        return self._run(request, pk, lambda: service(**kwargs), "Done: the incident moved on.")

    def _close_context(self, incident, options) -> dict:
        """What Close and Dismiss ask about: read only when the user may take one of them now."""
        if not any(o.name in ("close", "dismiss") and o.is_allowed for o in options):
            return {}
        return {
            "close_containment": list(unattended_containment(incident)),
            "close_pages": list(incident.pages.filter(state__in=OPEN_PAGE_STATES).select_related("contact")),
            "close_owners": staff_users(),
        }

    def _settle_decisions(self, request, incident) -> tuple[dict, dict]:
        """The choices made beside Close or Dismiss: lift or hand over each containment, answer each page."""
        owners = {str(u.pk): u for u in staff_users()}
        containment = {}
        for action in unattended_containment(incident):
            choice = request.POST.get(f"containment_{action.pk}", "")
            if choice in ("lift", "hand_over"):
                containment[action.pk] = {
                    "decision": choice,
                    "reason": request.POST.get(f"containment_{action.pk}_reason", ""),
                    "owner": owners.get(request.POST.get(f"containment_{action.pk}_owner", "")),
                }
        pages = {
            page.pk: request.POST.get(f"page_{page.pk}", "")
            for page in incident.pages.filter(state__in=OPEN_PAGE_STATES)
        }
        return containment, pages

    def _close(self, request, incident, kwargs):
        """Close, lifting or handing over each active containment and answering each open page as chosen."""
        containment, pages = self._settle_decisions(request, incident)
        return self._run(
            request,
            incident.pk,
            lambda: incident_close_settled(**kwargs, containment=containment, pages=pages),
            f"{incident.reference} is closed.",
        )

    def containment_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        form = ContainmentForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Containment not recorded. " + _form_errors(form), messages.ERROR)
            return self._back(pk)
        data = form.cleaned_data
        return self._run(
            request,
            pk,
            lambda: containment_record(
                incident_id=incident.pk,
                action_type=data["action_type"],
                parameters=form.parameters(),
                description=data["description"],
                approved_by=data["approved_by"],
                is_reversible=data["is_reversible"],
                actor=request.user,
            ),
            "Containment action recorded.",
        )

    def revert_view(self, request, pk, action_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        if not incident.containment_actions.filter(pk=action_id).exists():
            raise Http404("No such containment action.")
        form = RevertForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Say why the containment is lifted.", messages.ERROR)
            return self._back(pk)
        lifted = []

        def lift():
            reason = form.cleaned_data["reason"]
            lifted.append(containment_revert(action_id=action_id, reason=reason, actor=request.user))

        response = self._run(request, pk, lift, "Containment lifted.")
        if lifted and lifted[0].still_held_by:
            self.message_user(
                request,
                f"The kill switch stays in force: still held by {lifted[0].still_held_by}.",
                messages.WARNING,
            )
        return response

    def page_ack_view(self, request, pk, page_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        if not incident.pages.filter(pk=page_id).exists():
            raise Http404("No such page.")
        return self._run(
            request,
            pk,
            lambda: page_acknowledge(page_id=page_id, actor=request.user, via="admin"),
            "Page acknowledged.",
        )

    def timeline_view(self, request, pk):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        incident = self._visible_or_404(request, pk)
        form = TimelineNoteForm(request.POST)
        if not form.is_valid():
            self.message_user(request, "Note not added. " + _form_errors(form), messages.ERROR)
            return self._back(pk)
        return self._run(
            request,
            pk,
            lambda: timeline_add_note(
                incident_id=incident.pk,
                text=form.cleaned_data["text"],
                occurred_at=form.cleaned_data["occurred_at"],
                actor=request.user,
            ),
            "Added to the timeline.",
        )
