"""A document's transition buttons in the admin, read from its FSM, and the one POST view behind them.

An admin names its buttons in `action_labels` (name -> label, in the order shown) and the service
each runs in `action_services`. Which buttons a user sees comes from
`incidents.services.workflow.transition_options`: the document's current state and each transition's
own permission. `action_permissions` adds a permission where the admin asks for more than the FSM
does; `action_states` gives the states of an action that is not a state transition (a post-mortem's
new revision). The communications and post-mortem admins use it.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import re_path, reverse

from incidents.services.workflow import transition_options


class WorkflowButtonsAdminMixin:
    action_labels: dict[str, str] = {}
    action_services: dict[str, Callable] = {}
    # asked on top of the FSM transition's own permission (the only one, for an action outside the FSM)
    action_permissions: dict[str, str] = {}
    # actions that are not state transitions -> the states they apply to
    action_states: dict[str, tuple] = {}
    action_id_argument = ""  # the service's keyword for the document's id: "communication_id"
    action_denied = "You may not {action}."  # {action}: the button's label in lower case

    # --- what a subclass may say differently ---------------------------------------------------

    def action_kwargs(self, request, name: str) -> dict:
        """What the button posts with it for its service (a note, a reason)."""
        return {}

    def action_error_text(self, exc: ValidationError) -> str:
        return " ".join(exc.messages)

    # --- shared --------------------------------------------------------------------------------

    def may_act(self, user, obj, name: str) -> bool:
        """The user's permission for an action, whatever the state: the FSM's and the admin's own."""
        permission = self.action_permissions.get(name)
        if permission is not None and not user.has_perm(permission):
            return False
        fsm = getattr(getattr(type(obj), name, None), "_django_fsm", None)
        return fsm is None or all(t.has_perm(obj, user) for t in fsm.transitions.values())

    def action_buttons(self, request, obj) -> list[tuple[str, str]]:
        """(name, label) of each button this user may press on this document now, in the labels' order."""
        fsm_labels = {name: label for name, label in self.action_labels.items() if name not in self.action_states}
        from_fsm = {option.name for option in transition_options(obj, request.user, fsm_labels)}
        return [
            (name, label)
            for name, label in self.action_labels.items()
            if (name in from_fsm or obj.state in self.action_states.get(name, ()))
            and self.may_act(request.user, obj, name)
        ]

    def _change_url(self, pk: int) -> str:
        opts = self.model._meta
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])

    def action_urls(self) -> list:
        opts = self.model._meta
        return [
            re_path(
                rf"^(?P<pk>\d+)/(?P<action>{'|'.join(self.action_labels)})/$",
                self.admin_site.admin_view(self.action_view),
                name=f"{opts.app_label}_{opts.model_name}_action",
            )
        ]

    def action_view(self, request, pk, action):
        pk = int(pk)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_queryset(request).filter(pk=pk).first()
        if action not in self.action_labels or obj is None:
            raise Http404(f"No such {self.model._meta.verbose_name}.")
        label = self.action_labels[action]
        kwargs = {self.action_id_argument: pk, "actor": request.user, **self.action_kwargs(request, action)}
        try:
            if not self.may_act(request.user, obj, action):
                raise PermissionDenied(self.action_denied.format(action=label.lower()))
            self.action_services[action](**kwargs)
        except PermissionDenied as exc:
            self.message_user(request, str(exc) or "You may not do that.", messages.ERROR)
        except ValidationError as exc:
            self.message_user(request, self.action_error_text(exc), messages.ERROR)
        else:
            self.message_user(request, f"{label}: done.", messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(pk))
