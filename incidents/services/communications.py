"""Communications: draft from the audience's template, edit while a draft, submit, approve, send, cancel.

Every write locks the communication, checks the actor's permission and the incident's visibility,
and writes one action-log row and one timeline entry. Sending enqueues one email per recipient in the
outbox (dedup key per communication and recipient, so a retry sends nothing twice); a public
communication is not emailed: once sent, it is an update on the status page.
"""

from __future__ import annotations

import re

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.template import Context, Engine, TemplateSyntaxError

from audit import services as audit
from incidents.constants import PUBLIC_STATUS, Audience, Channel
from incidents.models import Communication, CommunicationState, CommunicationTemplate, Incident
from incidents.models.communications import EMAIL_AUDIENCES, may_approve

from .notifications import notification_enqueue
from .workflow import actor_user, draft_edit, timeline_add, transition_run
from .workflow import require_permission as _require
from .workflow import require_visible as _require_visible

EDITABLE_FIELDS = ["subject", "body", "recipients"]
LOGGED_FIELDS = ["audience", "state", *EDITABLE_FIELDS]

# No loaders, no libraries: {% include %} and {% load %} find nothing, and the context holds strings only.
_ENGINE = Engine(dirs=[], app_dirs=False, loaders=[], libraries={}, autoescape=False)


# The templates' guidance for the writer: passages in _italics_ to be replaced before review.
GUIDANCE = re.compile(r"(?<![\w*_])_(?=[A-Z])[^_\n]{8,}?_(?![\w_])")


def unedited_guidance(communication: Communication) -> list[str]:
    """The guidance passages of its audience's template still in the text, word for word."""
    template = CommunicationTemplate.objects.filter(audience=communication.audience).first()
    if template is None:
        return []
    passages = set(GUIDANCE.findall(template.subject)) | set(GUIDANCE.findall(template.body))
    text = f"{communication.subject}\n{communication.body}"
    return sorted((passage for passage in passages if passage in text), key=text.index)


def template_values(incident: Incident, audience: str = "") -> dict[str, str]:
    """The plain values a template may use: strings, never model instances with methods.

    For the public audience `status` is the status page's word for the incident's state (the one
    mapping in `incidents.constants.PUBLIC_STATUS`), so an update says what the status page says.
    A message to customers or the public gets no internal text: the incident's summary and fix are
    written for the team (the audience rule in `incidents.exports.audience` classes them so), and a
    template that asks for them gets nothing, so its italic guidance stays for the writer to replace.
    """
    status = PUBLIC_STATUS[incident.state].label if audience == Audience.PUBLIC else None
    internal_text = audience not in (Audience.AFFECTED_USERS, Audience.PUBLIC)
    return {
        "reference": incident.reference,
        "title": incident.title,
        "feature": incident.feature.name if incident.feature_id else "",
        "severity": incident.severity or "",
        "category": incident.get_category_display() if incident.category else "",
        "status": status or incident.get_state_display(),
        "detected_at": incident.detected_at.strftime("%Y-%m-%d %H:%M UTC") if incident.detected_at else "",
        "what_happened": (incident.summary or "").strip() if internal_text else "",
        "fix": (incident.fix_description or "").strip() if internal_text else "",
    }


def render_template_text(source: str, values: dict[str, str]) -> str:
    try:
        template = _ENGINE.from_string(source)
    except TemplateSyntaxError as exc:
        raise ValidationError(f"The communication template does not parse: {exc}") from exc
    return template.render(Context(values, autoescape=False)).strip()


def _lock(communication_id: int, actor) -> Communication:
    communication = (
        Communication.objects.select_for_update(of=("self",))
        .select_related("incident", "incident__feature")
        .get(pk=communication_id)
    )
    _require_visible(communication.incident, actor)
    return communication


def _check_recipients(communication: Communication) -> None:
    if communication.audience == Audience.PUBLIC:
        if communication.recipient_list:
            raise ValidationError({"recipients": "A public update goes to the status page, not to addresses."})
        return
    for address in communication.recipient_list:
        try:
            validate_email(address)
        except ValidationError as exc:
            raise ValidationError({"recipients": f"Not an email address: {address}"}) from exc


def _label(communication: Communication) -> str:
    return f"{communication.get_audience_display()} communication"


@transaction.atomic
def communication_create(*, incident_id: int, audience: str, actor, recipients: str = "") -> Communication:
    """A draft for one audience, filled from that audience's template and the incident."""
    incident = Incident.objects.select_for_update(of=("self",)).select_related("feature").get(pk=incident_id)
    _require_visible(incident, actor)
    _require(actor, "incidents.add_communication", "You may not draft communications.")
    if audience not in Audience.values:
        raise ValidationError({"audience": f"Unknown audience {audience!r}."})
    template = CommunicationTemplate.objects.filter(audience=audience).first()
    values = template_values(incident, audience)
    subject = render_template_text(template.subject, values) if template else f"{incident.reference}: update"
    body = render_template_text(template.body, values) if template else ""
    communication = Communication(
        incident=incident,
        audience=audience,
        subject=" ".join(subject.split())[:300],
        body=body,
        recipients=(recipients or "").strip(),
        created_by=actor_user(actor),
    )
    _check_recipients(communication)
    communication.save()
    audit.log_created(
        actor=actor, target=communication, incident=incident, values=audit.snapshot(communication, LOGGED_FIELDS)
    )
    timeline_add(incident, text=f"{_label(communication)} drafted", actor=actor)
    return communication


@transaction.atomic
def communication_update(*, communication_id: int, changes: dict, actor) -> Communication:
    """Edit subject, body or recipients. Only a draft changes: approval is of a fixed text."""
    communication = _lock(communication_id, actor)
    _require(actor, "incidents.change_communication", "You may not edit communications.")
    return draft_edit(
        communication,
        changes,
        actor=actor,
        editable=EDITABLE_FIELDS,
        draft=CommunicationState.DRAFT,
        not_a_draft="Only a draft can be edited: ask an approver to send it back.",
        check=_check_recipients,
    )


@transaction.atomic
def communication_submit(*, communication_id: int, actor) -> Communication:
    communication = _lock(communication_id, actor)
    _require(actor, "incidents.change_communication", "You may not submit communications.")
    if communication.state == CommunicationState.DRAFT:
        if not (communication.subject.strip() and communication.body.strip()):
            raise ValidationError("Write a subject and a body before asking for approval.")
        if communication.audience in EMAIL_AUDIENCES and not communication.recipient_list:
            raise ValidationError({"recipients": "Name the recipients before asking for approval."})
        left = unedited_guidance(communication)
        if left:
            shown = " · ".join(p if len(p) <= 60 else p[:57] + "…_" for p in left)
            raise ValidationError(
                {"body": f"Replace the template's guidance in italics before asking for approval: {shown}"}
            )
    return transition_run(
        communication,
        "submit",
        lock=False,
        timeline_text=f"{_label(communication)} submitted for approval",
        actor=actor,
        noun="communication",
    )


def _require_approver(communication: Communication, actor) -> None:
    if actor is not None and not may_approve(communication, actor):
        if communication.is_external:
            raise PermissionDenied("Only Legal or Communications approve what leaves the company.")
        raise PermissionDenied("You may not approve communications.")


@transaction.atomic
def communication_send_back(*, communication_id: int, note: str, actor) -> Communication:
    communication = _lock(communication_id, actor)
    _require_approver(communication, actor)
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say what needs to change."})
    return transition_run(
        communication,
        "send_back",
        lock=False,
        log_details={"note": note},
        timeline_text=f"{_label(communication)} sent back: {note}",
        actor=actor,
        noun="communication",
    )


@transaction.atomic
def communication_approve(*, communication_id: int, actor) -> Communication:
    communication = _lock(communication_id, actor)
    _require_approver(communication, actor)
    return transition_run(
        communication,
        "approve",
        lock=False,
        apply=lambda communication: setattr(communication, "approved_by", actor_user(actor)),
        timeline_text=f"{_label(communication)} approved",
        actor=actor,
        noun="communication",
    )


@transaction.atomic
def communication_send(*, communication_id: int, actor) -> Communication:
    """Freeze the exact text and recipients, then queue one email per recipient once this commits."""
    communication = _lock(communication_id, actor)
    _require(actor, "incidents.send_communication", "You may not send communications.")

    def freeze_and_queue(communication: Communication) -> None:
        communication.sent_by = actor_user(actor)
        if communication.audience == Audience.PUBLIC:
            return
        for address in communication.sent_recipients:
            notification_enqueue(
                channel=Channel.EMAIL,
                recipient=address,
                subject=communication.sent_subject,
                body=communication.sent_body,
                dedup_key=f"comm:{communication.pk}:{address.lower()}",
                incident=communication.incident,
            )

    def timeline_text(communication: Communication, source: str) -> str:
        if communication.audience == Audience.PUBLIC:
            where = "on the status page"
        else:
            where = f"to {len(communication.sent_recipients)} recipient(s)"
        return f"{_label(communication)} sent {where}: {communication.sent_subject}"

    return transition_run(
        communication,
        "send",
        lock=False,
        apply=freeze_and_queue,
        log_details=lambda c, source: {"recipients": c.sent_recipients, "subject": c.sent_subject},
        timeline_text=timeline_text,
        actor=actor,
        noun="communication",
    )


@transaction.atomic
def communication_cancel(*, communication_id: int, reason: str = "", actor) -> Communication:
    communication = _lock(communication_id, actor)
    _require(actor, "incidents.change_communication", "You may not cancel communications.")
    reason = (reason or "").strip()
    return transition_run(
        communication,
        "cancel",
        lock=False,
        apply=lambda communication: setattr(communication, "cancel_reason", reason),
        log_details={"reason": reason},
        timeline_text=f"{_label(communication)} cancelled" + (f": {reason}" if reason else ""),
        actor=actor,
        noun="communication",
    )
