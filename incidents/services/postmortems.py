"""Post-mortems: create from a template, edit while a draft, submit, review, approve, publish.

Every write locks the post-mortem, checks the actor's permission and the incident's visibility,
writes one action-log row and one timeline entry. Nothing is logged when nothing changed.

Review: each required reviewer (the commander, Legal, and Communications when the post-mortem is
public) approves in their own name; the last one's approval moves it to approved. A post-mortem still
holding its template's italic guidance is refused at submission, as a communication is.

Publishing freezes it: the snapshot of what the PDF prints (sections, timeline, key events, action
items, reviewers) is stored as revision 1, with the SHA-256 of its canonical JSON in the action log,
and the distribution list of the incident's severity is told through the outbox. Later changes to the
incident never change that revision; `postmortem_revise` publishes them as a new revision with a diff.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse

from audit import services as audit
from incidents.constants import ContactState, TimelineKind
from incidents.exports.snapshot import content_sha256, postmortem_snapshot, snapshot_diff
from incidents.models import (
    ActionItem,
    ActionItemSource,
    DistributionList,
    Incident,
    Learning,
    LearningScope,
    PostMortem,
    PostMortemApproval,
    PostMortemRevision,
    PostMortemState,
    PostMortemTemplate,
    ReviewerRole,
    StakeholderContact,
    TimelineEntry,
)
from incidents.models.postmortems import SECTIONS, reviewer_roles_of
from incidents.selectors import incident_is_visible

from .action_items import owner_recipients
from .communications import GUIDANCE
from .notifications import notification_enqueue
from .workflow import actor_user, draft_edit, timeline_add, transition_run
from .workflow import require_permission as _require
from .workflow import require_visible as _require_visible

TEXT_FIELDS = [name for name, _ in SECTIONS] + ["classification_marking"]
EDITABLE_FIELDS = [*TEXT_FIELDS, "is_public"]
LOGGED_FIELDS = ["state", *EDITABLE_FIELDS]


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
    postmortem = PostMortem(incident=incident, template=template, created_by=actor_user(actor), **values)
    if template is not None:
        postmortem.classification_marking = template.classification_marking
    postmortem.save()
    # Items added on the incident page before the post-mortem existed belong to it from now on.
    ActionItem.objects.filter(incident=incident, source=ActionItemSource.POSTMORTEM, postmortem__isnull=True).update(
        postmortem=postmortem
    )
    audit.log_created(
        actor=actor,
        target=postmortem,
        incident=incident,
        values=audit.snapshot(postmortem, LOGGED_FIELDS) | {"template": template.pk if template else None},
    )
    timeline_add(incident, text="Post-mortem started (draft)", actor=actor)
    return postmortem


@transaction.atomic
def postmortem_update(*, postmortem_id: int, changes: dict, actor) -> PostMortem:
    """Edit the sections or the marking. Only a draft changes: review is of a fixed text."""
    postmortem = _lock(postmortem_id, actor)
    _require(actor, "incidents.change_postmortem", "You may not edit post-mortems.")
    return draft_edit(
        postmortem,
        changes,
        actor=actor,
        editable=EDITABLE_FIELDS,
        draft=PostMortemState.DRAFT,
        not_a_draft="Only a draft post-mortem can be edited: ask a reviewer to request changes.",
        value=lambda name, value: bool(value) if name == "is_public" else (value or "").strip(),
    )


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


def unedited_guidance(postmortem: PostMortem) -> list[tuple[str, str]]:
    """(section heading, passage) for each italic guidance passage of a template still in the text.

    The post-mortem's own template and the default one are both checked: a post-mortem started before a
    template was chosen still carries the default's guidance.
    """
    templates = [t for t in (postmortem.template, PostMortemTemplate.objects.filter(is_default=True).first()) if t]
    left = []
    for name, heading, text in postmortem.sections:
        passages = {p for template in templates for p in GUIDANCE.findall(getattr(template, name, "") or "")}
        left.extend(
            (heading, passage)
            for passage in sorted(passages, key=lambda p: (text or "").find(p))
            if passage in (text or "")
        )
    return left


@transaction.atomic
def postmortem_submit(*, postmortem_id: int, actor) -> PostMortem:
    postmortem = _lock(postmortem_id, actor)
    _require(actor, "incidents.change_postmortem", "You may not submit post-mortems.")
    empty = [heading for name, heading, text in postmortem.sections if not (text or "").strip()]
    if empty:
        raise ValidationError(f"Write every section before review: {', '.join(empty)}.")
    left = unedited_guidance(postmortem)
    if left:
        sections = ", ".join(dict.fromkeys(heading for heading, _ in left))
        raise ValidationError(f"Replace the template's guidance in italics before review; it is still in: {sections}.")
    return transition_run(
        postmortem,
        "submit",
        actor=actor,
        noun="post-mortem",
        lock=False,
        timeline_text="Post-mortem submitted for review",
    )


def _review_roles(postmortem: PostMortem, actor) -> set[str]:
    """The required review roles the actor fills; PermissionDenied when none."""
    _require(actor, "incidents.approve_postmortem", "Only the commander, Legal or Communications review post-mortems.")
    required = postmortem.required_reviewer_roles()
    if actor_user(actor) is None:
        raise PermissionDenied("A post-mortem is reviewed by people, each in their own name.")
    roles = reviewer_roles_of(actor, postmortem.incident) & set(required)
    if not roles:
        names = ", ".join(dict(ReviewerRole.choices)[r] for r in required)
        raise PermissionDenied(f"You are not one of this post-mortem's reviewers ({names}).")
    return roles


@transaction.atomic
def postmortem_request_changes(*, postmortem_id: int, note: str, actor) -> PostMortem:
    """A reviewer sends the post-mortem back to draft, saying what to change; approvals given so far lapse."""
    postmortem = _lock(postmortem_id, actor)
    _review_roles(postmortem, actor)
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "Say what needs to change."})
    cleared = sorted(postmortem.approvals.values_list("role", flat=True))

    def clear_approvals(postmortem: PostMortem) -> None:
        postmortem.review_note = note
        postmortem.approvals.all().delete()

    return transition_run(
        postmortem,
        "request_changes",
        actor=actor,
        noun="post-mortem",
        lock=False,
        apply=clear_approvals,
        log_details={"note": note, "approvals_cleared": cleared},
        timeline_text=f"Post-mortem sent back for changes: {note}",
    )


@transaction.atomic
def postmortem_approve(*, postmortem_id: int, actor) -> PostMortem:
    """Record the actor's approval for each required review role they fill; approved once all have."""
    postmortem = _lock(postmortem_id, actor)
    if postmortem.state != PostMortemState.IN_REVIEW:
        raise ValidationError(f"Not possible while the post-mortem is {postmortem.get_state_display().lower()}.")
    roles = _review_roles(postmortem, actor)
    given = postmortem.approved_roles()
    new = [role for role in postmortem.required_reviewer_roles() if role in roles and role not in given]
    if not new:
        waiting = ", ".join(dict(ReviewerRole.choices)[r] for r in postmortem.missing_reviewer_roles())
        raise ValidationError(f"You have approved already; still waiting for: {waiting}.")
    labels = dict(ReviewerRole.choices)
    for role in new:
        approval = PostMortemApproval.objects.create(postmortem=postmortem, role=role, user=actor)
        audit.log_created(
            actor=actor, target=approval, incident=postmortem.incident, values={"role": role, "user": actor.pk}
        )
    missing = postmortem.missing_reviewer_roles()
    who = " and ".join(labels[r] for r in new)
    name = _display_name(actor)
    if missing:
        timeline_add(
            postmortem.incident,
            text=f"Post-mortem approved by {name} ({who}); still needed: {', '.join(labels[r] for r in missing)}",
            actor=actor,
        )
        return postmortem

    def approved(postmortem: PostMortem) -> None:
        postmortem.approved_by = actor_user(actor)
        postmortem.review_note = ""

    return transition_run(
        postmortem,
        "approve",
        actor=actor,
        noun="post-mortem",
        lock=False,
        apply=approved,
        timeline_text=f"Post-mortem approved by every reviewer (last: {name}, {who})",
    )


def _display_name(user) -> str:
    """A person in text: their full name, else their email; never a login name alone."""
    if actor_user(user) is None:
        return "Fireline"
    return user.get_full_name().strip() or user.email or user.get_username()


@transaction.atomic
def postmortem_publish(*, postmortem_id: int, actor) -> PostMortem:
    postmortem = _lock(postmortem_id, actor)
    _require(actor, "incidents.publish_postmortem", "You may not publish post-mortems.")
    transition_run(
        postmortem,
        "publish",
        actor=actor,
        noun="post-mortem",
        lock=False,
        apply=lambda postmortem: setattr(postmortem, "published_by", actor_user(actor)),
        timeline_text="Post-mortem published",
    )
    _store_revision(postmortem, actor=actor, reason="")
    _announce_publication(postmortem)
    return postmortem


def _store_revision(postmortem: PostMortem, *, actor, reason: str, content: dict | None = None) -> PostMortemRevision:
    """Freeze what the PDF prints now as the next revision; its SHA-256 goes to the action log."""
    content = content if content is not None else postmortem_snapshot(postmortem)
    previous = postmortem.revisions.order_by("-number").first()
    number = previous.number + 1 if previous else 1
    diff = ""
    if previous is not None:
        diff = snapshot_diff(
            previous.content, content, before_name=f"revision {previous.number}", after_name=f"revision {number}"
        )
    revision = PostMortemRevision.objects.create(
        postmortem=postmortem,
        number=number,
        content=content,
        sha256=content_sha256(content),
        diff=diff,
        reason=reason,
        created_by=actor_user(actor),
    )
    audit.log_created(
        actor=actor,
        target=revision,
        incident=postmortem.incident,
        values={"number": number, "sha256": revision.sha256, "reason": reason},
    )
    return revision


def postmortem_pending_changes(postmortem: PostMortem) -> str:
    """What the next revision would change, as a diff; empty when the published revision is current."""
    latest = postmortem.revisions.order_by("-number").first()
    if latest is None:
        return ""
    current = postmortem_snapshot(postmortem)
    if content_sha256(current) == latest.sha256:
        return ""
    return snapshot_diff(latest.content, current, before_name=f"revision {latest.number}", after_name="now")


@transaction.atomic
def postmortem_revise(*, postmortem_id: int, reason: str, actor) -> PostMortemRevision:
    """Publish what changed since the last revision (a later timeline entry, an action item done) as a new one.

    The earlier revisions stay as they were, each with its SHA-256; the PDF prints the new one with the
    diff from the last, and says why it was revised.
    """
    postmortem = _lock(postmortem_id, actor)
    _require(actor, "incidents.publish_postmortem", "You may not publish post-mortems.")
    if postmortem.state != PostMortemState.PUBLISHED:
        raise ValidationError("Only a published post-mortem gets revisions: publish it first.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why a new revision is published."})
    latest = postmortem.revisions.order_by("-number").first()
    content = postmortem_snapshot(postmortem)
    if latest is not None and content_sha256(content) == latest.sha256:
        raise ValidationError(f"Nothing changed since revision {latest.number}.")
    revision = _store_revision(postmortem, actor=actor, reason=reason, content=content)
    timeline_add(postmortem.incident, text=f"Post-mortem revision {revision.number} published: {reason}", actor=actor)
    return revision


# --- publication notice ------------------------------------------------------------------------------


def publication_recipients(incident: Incident) -> list[tuple[str, str, StakeholderContact | None, str]]:
    """(channel, address, contact, key), one per address.

    A drill tells only its participants (the commander and members); a real incident tells the
    distribution list of its severity: the roles' tier-1 contacts, the named contacts, the extra
    addresses and, when the list says so, the commander.
    """
    out, seen = [], set()

    def add(rows):
        for channel, address, contact, key in rows:
            if address.lower() not in seen:
                seen.add(address.lower())
                out.append((channel, address, contact, key))

    def contact_row(contact):
        channels = contact.channels()
        return [(channels[0], contact.address(channels[0]), contact, f"c{contact.pk}")] if channels else []

    if incident.is_drill:
        people = ([incident.commander] if incident.commander_id else []) + list(incident.members.order_by("pk"))
        for user in people:
            add(owner_recipients(user))
        return out
    dlist = DistributionList.objects.filter(severity=incident.severity).first() if incident.severity else None
    if dlist is None:
        return out
    live = StakeholderContact.objects.exclude(state=ContactState.RETIRED)
    for contact in live.filter(role__in=dlist.roles or [], escalation_tier=1).order_by("role", "pk"):
        add(contact_row(contact))
    for contact in dlist.contacts.exclude(state=ContactState.RETIRED).order_by("pk"):
        add(contact_row(contact))
    add(("email", address, None, f"e{address.lower()}") for address in dlist.email_list())
    if dlist.include_commander and incident.commander_id:
        add(owner_recipients(incident.commander))
    return out


def publication_message(postmortem: PostMortem) -> tuple[str, str]:
    incident = postmortem.incident
    pdf = settings.FIRELINE_BASE_URL.rstrip("/") + reverse("postmortem-pdf", args=[incident.pk])
    drill = "[DRILL] " if incident.is_drill else ""
    if incident.is_restricted:
        # Restricted: the reference only; who may read it finds the details behind the login.
        return (
            f"{drill}Post-mortem published: {incident.reference}",
            f"The post-mortem of {incident.reference} is published. Its details are restricted: sign in to "
            f"Fireline to read it if you have access.\n\nPDF: {pdf}\n",
        )
    open_items = postmortem.open_action_items.count()
    return (
        f"{drill}Post-mortem published: {incident.reference} — {incident.title}",
        f"The post-mortem of {incident.reference} ({incident.severity or 'no severity'}, "
        f"{incident.get_category_display() if incident.category else 'no category'}) is published.\n\n"
        f"{incident.title}\n\nOpen action items: {open_items}.\n\nRead it (PDF): {pdf}\n",
    )


def _announce_publication(postmortem: PostMortem) -> int:
    incident = postmortem.incident
    recipients = publication_recipients(incident)
    subject, body = publication_message(postmortem)
    for channel, address, contact, key in recipients:
        notification_enqueue(
            channel=channel,
            recipient=address,
            subject=subject,
            body=body,
            dedup_key=f"pm-published:{postmortem.pk}:{key}",
            incident=incident,
            contact=contact,
        )
    if recipients:
        who = "the drill's participants" if incident.is_drill else f"the {incident.severity} distribution list"
        count = len(recipients)
        text = f"Post-mortem publication sent to {who}: {count} recipient{'' if count == 1 else 's'}"
        kind = TimelineKind.PAGE
    else:
        text = "Post-mortem published, but its distribution list reached no one: add contacts to it."
        kind = TimelineKind.DELIVERY_FAILED
    timeline_add(incident, kind=kind, text=text, occurred_at=postmortem.published_at)
    return len(recipients)


# --- key events ----------------------------------------------------------------------------------------


@transaction.atomic
def timeline_entry_star(*, entry_id: int, is_key_event: bool, actor) -> TimelineEntry:
    """Star (or unstar) a timeline entry as a key event of the post-mortem's 'What happened'."""
    entry = TimelineEntry.objects.select_for_update(of=("self",)).select_related("incident").get(pk=entry_id)
    if actor is not None and not incident_is_visible(user=actor, incident=entry.incident):
        raise Incident.DoesNotExist("No incident with that id.")
    _require(actor, "incidents.change_incident", "You may not change this incident's timeline.")
    is_key_event = bool(is_key_event)
    if entry.is_key_event == is_key_event:
        return entry
    entry.is_key_event = is_key_event
    entry.save(update_fields=["is_key_event"])
    audit.log_changed(
        actor=actor,
        target=entry,
        before={"is_key_event": not is_key_event},
        after={"is_key_event": is_key_event},
        incident=entry.incident,
    )
    return entry
