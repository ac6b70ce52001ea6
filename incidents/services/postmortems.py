"""Post-mortems: create from a template, edit while a draft, submit, review, approve, publish.

Every write locks the post-mortem, checks the actor's permission and the incident's visibility,
writes one action-log row and one timeline entry. Nothing is logged when nothing changed.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from audit import services as audit
from incidents.models import (
    Incident,
    Learning,
    LearningScope,
    PostMortem,
    PostMortemState,
    PostMortemTemplate,
)
from incidents.models.postmortems import SECTIONS
from incidents.selectors import incident_is_visible

from .workflow import finish_transition, run_transition, timeline_change

EDITABLE_FIELDS = [name for name, _ in SECTIONS] + ["classification_marking"]
LOGGED_FIELDS = ["state", *EDITABLE_FIELDS]


def _require(actor, permission: str, message: str) -> None:
    if actor is not None and not actor.has_perm(permission):
        raise PermissionDenied(message)


def _require_visible(incident: Incident, actor) -> None:
    if actor is not None and not incident_is_visible(user=actor, incident=incident):
        raise Incident.DoesNotExist("No incident with that id.")


def _user(actor):
    return actor if getattr(actor, "pk", None) else None


def _lock(postmortem_id: int, actor) -> PostMortem:
    postmortem = PostMortem.objects.select_for_update(of=("self",)).select_related("incident").get(pk=postmortem_id)
    _require_visible(postmortem.incident, actor)
    return postmortem


def _root_cause_text(incident: Incident) -> str:
    """The incident's root cause, then the findings marked as root cause, as the section's first draft."""
    parts = []
    if (incident.root_cause or "").strip():
        layer = f" ({incident.get_root_cause_layer_display()})" if incident.root_cause_layer else ""
        parts.append(f"{incident.root_cause.strip()}{layer}")
    for finding in incident.findings.filter(is_root_cause=True):
        parts.append(f"Finding — {finding.get_layer_display()}: {finding.text.strip()}")
    return "\n\n".join(parts)


@transaction.atomic
def postmortem_create(*, incident_id: int, actor, template: PostMortemTemplate | None = None) -> PostMortem:
    """Start the incident's post-mortem from a template; the root cause is filled from the investigation."""
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    _require_visible(incident, actor)
    _require(actor, "incidents.add_postmortem", "You may not write post-mortems.")
    if PostMortem.objects.filter(incident=incident).exists():
        raise ValidationError("This incident has a post-mortem already.")
    template = template or PostMortemTemplate.objects.filter(is_default=True).first()
    values = {name: getattr(template, name, "") if template else "" for name, _ in SECTIONS}
    root_cause = _root_cause_text(incident)
    if root_cause:
        values["root_cause"] = root_cause
    postmortem = PostMortem(incident=incident, template=template, created_by=_user(actor), **values)
    if template is not None:
        postmortem.classification_marking = template.classification_marking
    postmortem.save()
    audit.log_created(
        actor=actor,
        target=postmortem,
        incident=incident,
        values=audit.snapshot(postmortem, LOGGED_FIELDS) | {"template": template.pk if template else None},
    )
    timeline_change(incident, "Post-mortem started (draft)", actor)
    return postmortem


@transaction.atomic
def postmortem_update(*, postmortem_id: int, changes: dict, actor) -> PostMortem:
    """Edit the sections or the marking. Only a draft changes: review is of a fixed text."""
    postmortem = _lock(postmortem_id, actor)
    _require(actor, "incidents.change_postmortem", "You may not edit post-mortems.")
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Not editable: {', '.join(sorted(unknown))}.")
    if postmortem.state != PostMortemState.DRAFT:
        raise ValidationError("Only a draft post-mortem can be edited: ask a reviewer to request changes.")
    before = audit.snapshot(postmortem, EDITABLE_FIELDS)
    for name, value in changes.items():
        setattr(postmortem, name, (value or "").strip())
    postmortem.clean_fields(exclude=[f.name for f in PostMortem._meta.fields if f.name not in EDITABLE_FIELDS])
    postmortem.save()
    audit.log_changed(
        actor=actor,
        target=postmortem,
        before=before,
        after=audit.snapshot(postmortem, EDITABLE_FIELDS),
        incident=postmortem.incident,
    )
    return postmortem


@transaction.atomic
def learning_add(*, postmortem_id: int, text: str, scope: str = LearningScope.NARROW, actor) -> Learning:
    postmortem = _lock(postmortem_id, actor)
    _require(actor, "incidents.add_learning", "You may not add learnings.")
    if postmortem.state != PostMortemState.DRAFT:
        raise ValidationError("Learnings are added while the post-mortem is a draft.")
    if not (text or "").strip():
        raise ValidationError({"text": "Write the learning."})
    if scope not in LearningScope.values:
        raise ValidationError({"scope": "Narrow or transferable."})
    learning = Learning.objects.create(postmortem=postmortem, text=text.strip(), scope=scope)
    audit.log_created(
        actor=actor, target=learning, incident=postmortem.incident, values={"scope": scope, "text": learning.text}
    )
    return learning


@transaction.atomic
def postmortem_submit(*, postmortem_id: int, actor) -> PostMortem:
    postmortem = _lock(postmortem_id, actor)
    _require(actor, "incidents.change_postmortem", "You may not submit post-mortems.")
    empty = [heading for name, heading, text in postmortem.sections if not (text or "").strip()]
    if empty:
        raise ValidationError(f"Write every section before review: {', '.join(empty)}.")
    source = run_transition(postmortem, "submit", "post-mortem")
    return finish_transition(postmortem, source, "submit", actor, "Post-mortem submitted for review")


@transaction.atomic
def postmortem_request_changes(*, postmortem_id: int, note: str, actor) -> PostMortem:
    """A reviewer sends the post-mortem back to draft, saying what to change."""
    postmortem = _lock(postmortem_id, actor)
    _require(actor, "incidents.approve_postmortem", "Only the commander or Legal review post-mortems.")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say what needs to change."})
    source = run_transition(postmortem, "request_changes", "post-mortem")
    postmortem.review_note = note
    return finish_transition(
        postmortem, source, "request_changes", actor, f"Post-mortem sent back for changes: {note}", {"note": note}
    )


@transaction.atomic
def postmortem_approve(*, postmortem_id: int, actor) -> PostMortem:
    postmortem = _lock(postmortem_id, actor)
    _require(actor, "incidents.approve_postmortem", "Only the commander or Legal approve post-mortems.")
    source = run_transition(postmortem, "approve", "post-mortem")
    postmortem.approved_by = _user(actor)
    postmortem.review_note = ""
    return finish_transition(postmortem, source, "approve", actor, "Post-mortem approved")


@transaction.atomic
def postmortem_publish(*, postmortem_id: int, actor) -> PostMortem:
    postmortem = _lock(postmortem_id, actor)
    _require(actor, "incidents.publish_postmortem", "You may not publish post-mortems.")
    source = run_transition(postmortem, "publish", "post-mortem")
    postmortem.published_by = _user(actor)
    return finish_transition(postmortem, source, "publish", actor, "Post-mortem published")
