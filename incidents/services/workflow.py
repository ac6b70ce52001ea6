"""The workflow kernel: the steps every stateful case object shares.

Incidents, post-mortems, communications, action items, regulatory obligations and decisions, stakeholder
contacts, pages and drills all change state the same way, through `transition_run`: lock the row, check the
incident is visible to the actor, check the state the user saw, check the transition's permission, say
in words which guards fail, run the django-fsm method, save, write one action-log row and one timeline
row, and register what leaves the database with `transaction.on_commit`. Adding a transition to a model
is one decorated method on the model and one service that calls `transition_run`.

`timeline_add` is the one way a timeline row is written; `transition_options` is the one list of
"which buttons can I press, and what stops each". This module imports only models, constants,
selectors and the action log, so every service may import it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django_fsm import ConcurrentTransition, TransitionNotAllowed

from audit import services as audit
from audit.actors import actor_user
from incidents.constants import TimelineKind
from incidents.models import Incident, TimelineEntry
from incidents.selectors import incident_is_visible

from .errors import IncidentChanged, RowChanged

__all__ = [
    "TransitionOption",
    "actor_user",
    "draft_edit",
    "failure_text",
    "guard_blockers",
    "require_permission",
    "require_visible",
    "timeline_add",
    "transition_for",
    "transition_options",
    "transition_run",
]

# A guard whose failure says more than one line (evals_prove_the_fix names each case): guard -> words(obj).
Explain = dict[Callable, Callable[[Any], list[str]]]
_OWN_INCIDENT = object()


@dataclass
class TransitionOption:
    """A button a user may press from the current state, with what stops it now, in words."""

    name: str
    label: str
    blockers: list[str] = field(default_factory=list)
    needs_reason: bool = False

    @property
    def is_allowed(self) -> bool:
        return not self.blockers


def transition_for(document: models.Model, name: str):
    """The django-fsm transition `name` from the document's current state, or None.

    The one place that reads django-fsm's per-method metadata (its public API answers "can it proceed",
    not "which guards fail"): every workflow asks here to say in words why a button is disabled.
    """
    meta = getattr(getattr(document, name, None), "_django_fsm", None)
    return meta.get_transition(document.state) if meta is not None else None


def failure_text(condition, document) -> str:
    """A guard's failure text: its `failure` (a string, or a function of the document) or its name in words."""
    failure = getattr(condition, "failure", condition.__name__.replace("_", " "))
    return failure(document) if callable(failure) else failure


def require_permission(actor, permission: str, message: str) -> None:
    if actor is not None and not actor.has_perm(permission):
        raise PermissionDenied(message)


def require_visible(incident: Incident, actor) -> None:
    """An incident the actor may not see is answered exactly like one that does not exist."""
    if actor is not None and not incident_is_visible(user=actor, incident=incident):
        raise Incident.DoesNotExist("No incident with that id.")


def timeline_add(
    incident: Incident | int,
    *,
    text: str,
    kind: str = TimelineKind.CHANGE,
    actor=None,
    occurred_at: datetime | None = None,
    is_automatic: bool = True,
) -> TimelineEntry:
    """The one way a timeline row is written: who (a user, or nobody for the system), what, when.

    `incident` is the incident or its primary key (the alert and outbox paths hold only the key).
    """
    where = {"incident_id": incident} if isinstance(incident, int) else {"incident": incident}
    return TimelineEntry.objects.create(
        **where,
        kind=kind,
        text=text,
        actor=actor_user(actor),
        occurred_at=occurred_at or timezone.now(),
        is_automatic=is_automatic,
    )


def draft_edit(
    document: models.Model,
    changes: dict,
    *,
    actor,
    editable: list[str],
    draft: str,
    not_a_draft: str,
    value: Callable[[str, Any], Any] | None = None,
    check: Callable[[Any], None] | None = None,
):
    """Edit a draft document (a post-mortem, a communication) and log exactly what changed.

    Only a draft (state `draft`) changes, since review and approval are of a fixed text; `not_a_draft`
    says what to do instead. A field outside `editable` is refused by name. Values are stripped text
    unless `value(name, value)` says otherwise; `check(document)` adds the document's own rules before the
    save. The caller has locked the row and checked the actor's permission.
    """
    unknown = set(changes) - set(editable)
    if unknown:
        raise ValidationError(f"Not editable: {', '.join(sorted(unknown))}.")
    if document.state != draft:
        raise ValidationError(not_a_draft)
    before = audit.snapshot(document, editable)
    for name, new in changes.items():
        setattr(document, name, value(name, new) if value is not None else (new or "").strip())
    document.clean_fields(exclude=[f.name for f in document._meta.fields if f.name not in editable])
    if check is not None:
        check(document)
    document.save()
    audit.log_changed(
        actor=actor,
        target=document,
        before=before,
        after=audit.snapshot(document, editable),
        incident=_incident_of(document),
    )
    return document


def _noun(obj: models.Model, noun: str | None) -> str:
    return noun or str(obj._meta.verbose_name)


def _not_possible(obj: models.Model, noun: str) -> str:
    return f"Not possible while the {noun} is {obj.get_state_display().lower()}."


def _changed(obj: models.Model, noun: str) -> ValidationError:
    """The "someone changed it meanwhile" error: the incident's own wording, or the same for any other row."""
    return IncidentChanged() if isinstance(obj, Incident) else RowChanged(noun)


def _incident_of(obj: models.Model) -> Incident | None:
    return obj if isinstance(obj, Incident) else getattr(obj, "incident", None)


def guard_blockers(
    obj: models.Model, name: str, *, noun: str | None = None, skip: Iterable = (), explain: Explain | None = None
) -> list[str]:
    """Why transition `name` cannot run now, in words; empty when it can.

    `skip`: guards answered by what the user types with the button (a reason), left out of a button's
    blockers. `explain`: guards whose failure is told in several lines rather than one.
    """
    transition = transition_for(obj, name)
    if transition is None:
        return [_not_possible(obj, _noun(obj, noun))]
    skip, explain = set(skip), explain or {}
    blockers = []
    for condition in transition.conditions:
        if condition in skip or condition(obj):
            continue
        if condition in explain:
            blockers.extend(explain[condition](obj))
        else:
            blockers.append(failure_text(condition, obj))
    return blockers


def transition_options(
    obj: models.Model,
    user,
    labels: dict[str, str],
    input_guards: Iterable = (),
    *,
    noun: str | None = None,
    explain: Explain | None = None,
) -> list[TransitionOption]:
    """The buttons this user may press from the current state, in the order of `labels`, each with its blockers."""
    input_guards = set(input_guards)
    options: dict[str, TransitionOption] = {}
    for transition in obj.get_all_state_transitions():
        if transition.source not in (obj.state, "*") or transition.name not in labels or transition.name in options:
            continue
        if not transition.has_perm(obj, user):
            continue
        options[transition.name] = TransitionOption(
            name=transition.name,
            label=labels[transition.name],
            blockers=guard_blockers(obj, transition.name, noun=noun, skip=input_guards, explain=explain),
            needs_reason=any(c in input_guards for c in transition.conditions),
        )
    return [options[name] for name in labels if name in options]


def transition_run(
    obj: models.Model,
    name: str,
    *,
    actor,
    noun: str | None = None,
    incident: Incident | None = _OWN_INCIDENT,  # type: ignore[assignment]
    lock: bool = True,
    check_visible: bool = True,
    expected_state: str | None = None,
    prepare: Callable[[Any], None] | None = None,
    apply: Callable[[Any], None] | None = None,
    explain: Explain | None = None,
    permission_message: str | None = None,
    log_details: dict | Callable[[Any, str], dict | None] | None = None,
    timeline_text: str | Callable[[Any, str], str] | None = None,
    timeline_kind: str = TimelineKind.CHANGE,
    timeline_at: Callable[[Any], datetime] | None = None,
    then: Callable[[Any], None] | None = None,
    on_commit: Iterable[Callable[[], None]] = (),
):
    """Run transition `name` on `obj` for `actor` and return the saved row. Call it inside the service's atomic block.

    In order: lock and re-read the row (`lock=False` when the service locked it already, to check more
    first); an incident the actor may not see does not exist (`check_visible=False` for drills, gated by
    their own permission); the state the user saw (`expected_state`) or "changed meanwhile"; the
    transition's django-fsm permission (`permission_message` names what the user may not do); `prepare(obj)`
    (what the guards read: a reason typed with the button); every failing guard, in words, as one
    ValidationError; the method; `apply(obj)` (what depends on the new state: a timestamp, a score);
    save; ONE action-log row (`log_details`: a dict, or a function of (obj, source state)); ONE timeline
    row on the incident when `timeline_text` is given and there is an incident (at `timeline_at(obj)`, else
    now); `then(obj)` (follow-ups in
    this transaction: outbox rows); `on_commit` callables, run only if the whole transaction commits.

    `incident`: the incident the row belongs to (default: the row itself, or its `incident`), read again
    after `apply`, so a drill that opens its incident on start puts the start on that incident's timeline.
    """
    model = type(obj)
    if lock:
        obj = model._default_manager.select_for_update(of=("self",)).get(pk=obj.pk)
    noun = _noun(obj, noun)

    def owner() -> Incident | None:
        return _incident_of(obj) if incident is _OWN_INCIDENT else incident

    if check_visible and owner() is not None:
        require_visible(owner(), actor)
    if expected_state is not None and obj.state != expected_state:
        raise _changed(obj, noun)
    transition = transition_for(obj, name)
    if transition is None:
        raise ValidationError([_not_possible(obj, noun)])
    if actor is not None and not transition.has_perm(obj, actor):
        raise PermissionDenied(permission_message or f"You may not {name.replace('_', ' ')} {noun}s.")
    if prepare is not None:
        prepare(obj)
    blockers = guard_blockers(obj, name, noun=noun, explain=explain)
    if blockers:
        raise ValidationError(blockers)
    source = obj.state
    try:
        getattr(obj, name)()
        if apply is not None:
            apply(obj)
        obj.save()
    except TransitionNotAllowed as exc:
        raise ValidationError([_not_possible(obj, noun)]) from exc
    except ConcurrentTransition as exc:
        raise _changed(obj, noun) from exc
    where = owner()
    audit.log_transition(
        actor=actor,
        target=obj,
        source=source,
        target_state=obj.state,
        name=name,
        incident=where,
        details=log_details(obj, source) if callable(log_details) else log_details,
    )
    if timeline_text is not None and where is not None:
        text = timeline_text(obj, source) if callable(timeline_text) else timeline_text
        when = timeline_at(obj) if timeline_at is not None else None
        timeline_add(where, text=text, kind=timeline_kind, actor=actor, occurred_at=when)
    if then is not None:
        then(obj)
    for effect in on_commit:
        transaction.on_commit(effect)
    return obj
