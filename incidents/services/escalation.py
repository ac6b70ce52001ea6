"""Paging, acknowledgement and escalation.

A trigger (incident opened or triaged, severity raised) pages the tier-1 contacts of the roles its
severity's policy names. A page not acknowledged by its due time escalates: to the contact's backup
and to the same roles one tier up. Every page, acknowledgement and escalation is on the timeline.

A policy may also name on-call schedules per tier (the oncall app): the schedule is resolved to the
person on call at the moment a page is sent, and again at each escalation.
"""

from __future__ import annotations

from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audit import services as audit
from audit.actors import actor_user
from incidents.constants import (
    OPEN_STATES,
    Category,
    ContactState,
    NotificationState,
    PageState,
    StakeholderRole,
    TimelineKind,
)
from incidents.models import EscalationPolicy, Incident, Page, StakeholderContact
from incidents.selectors import incident_is_visible

from .notifications import notification_enqueue
from .workflow import timeline_add, transition_run

ACK_SALT = "fireline.page.ack"
ACK_LINK_MAX_AGE = timedelta(days=7)


def ack_token(page: Page) -> str:
    return signing.dumps(page.pk, salt=ACK_SALT)


def ack_url(page: Page) -> str:
    return settings.FIRELINE_BASE_URL.rstrip("/") + reverse("page-ack", args=[ack_token(page)])


def page_from_token(token: str) -> Page:
    """The page a signed link names; ValidationError for a forged, altered or expired link."""
    try:
        page_id = signing.loads(token, salt=ACK_SALT, max_age=ACK_LINK_MAX_AGE)
    except signing.SignatureExpired as exc:
        raise ValidationError("This acknowledgement link has expired; acknowledge in Fireline instead.") from exc
    except signing.BadSignature as exc:
        raise ValidationError("This acknowledgement link is not valid.") from exc
    return Page.objects.select_related("incident", "contact").get(pk=page_id)


def severity_rank(severity: str) -> int:
    """SEV1 -> 1 (most severe); no severity ranks below all."""
    return int(severity[-1]) if severity else 99


def _roles_for(incident: Incident, policy: EscalationPolicy) -> list[str]:
    roles = list(policy.roles)
    # The triage matrix cell names stakeholders this kind of incident needs (PR for a public one):
    # they are paged in addition to the severity's policy.
    if incident.triage_rule_id:
        roles += [role for role in incident.triage_rule.required_stakeholders if role not in roles]
    # Privacy incidents always page the privacy officer (GDPR Art. 33's 72 hours start at awareness).
    if (incident.involves_privacy or incident.category == Category.DATA_LEAK) and (
        StakeholderRole.PRIVACY_OFFICER not in roles
    ):
        roles.append(StakeholderRole.PRIVACY_OFFICER)
    return roles


def ack_minutes(incident: Incident, policy: EscalationPolicy | None) -> int:
    """The matrix cell's 'page within' sets this incident's acknowledgement timeout; the policy's otherwise."""
    if incident.triage_rule_id:
        return incident.triage_rule.page_within_minutes
    return policy.ack_timeout_minutes if policy is not None else 15


def _reachable(queryset, incident: Incident):
    queryset = queryset.exclude(state=ContactState.RETIRED).prefetch_related("channel_rows")
    if incident.is_drill:
        # A drill pages only its participants: the people on the drill incident.
        people = list(incident.members.values_list("pk", flat=True))
        if incident.commander_id:
            people.append(incident.commander_id)
        queryset = queryset.filter(user_id__in=people)
    return queryset


def _on_call(
    incident: Incident, policy: EscalationPolicy | None, tier: int, escalating: Page | None = None, paged_before=""
) -> list:
    """Who the policy's on-call schedules put on call for this tier now. A drill pages its participants only."""
    if incident.is_drill or not apps.is_installed("oncall"):
        return []
    # oncall builds on incidents, not the other way round: imported here, when a page is sent.
    from oncall.paging import on_call_targets

    return on_call_targets(policy=policy, tier=tier, escalating=escalating, paged_before=paged_before)


def _unreachable(incident: Incident, targets: list, tier: int) -> list:
    """Say on the timeline which schedules could not be paged (a gap, no email); return the reachable ones."""
    for target in targets:
        if target.contact is None:
            timeline_add(incident, kind=TimelineKind.DELIVERY_FAILED, text=f"Tier {tier}: {target.problem}.")
    return [target for target in targets if target.contact is not None]


def _record_schedule(page: Page, target) -> None:
    from oncall.paging import page_record_schedule

    page_record_schedule(page=page, schedule_id=target.schedule_id)


def _message(incident: Incident, page: Page, policy_minutes: int) -> tuple[str, str]:
    link = settings.FIRELINE_BASE_URL.rstrip("/") + reverse("admin:incidents_incident_change", args=[incident.pk])
    if incident.is_restricted:
        # A restricted incident's details do not leave Fireline in a message: the link is enough.
        subject = f"[{incident.severity}] {incident.reference}: a restricted incident needs you"
        about = "This incident is restricted; open it in Fireline to see what happened."
    else:
        subject = f"[{incident.severity}] {incident.reference}: {incident.title}"
        about = (
            f"{incident.get_category_display() or 'Uncategorised'} on {incident.feature.name}. "
            f"State: {incident.get_state_display()}. Users affected: {incident.users_affected}."
        )
    drill = "[DRILL] " if incident.is_drill else ""
    body = (
        f"{drill}You are paged as {page.contact.get_role_display()} ({page.reason}).\n\n{about}\n\n"
        f"Acknowledge within {policy_minutes} minutes: {ack_url(page)}\n"
        f"Incident: {link}\n"
    )
    return drill + subject, body


def _page_contact(
    *,
    incident: Incident,
    contact: StakeholderContact,
    policy: EscalationPolicy,
    tier: int,
    reason: str,
    dedup_key: str,
    escalated_from: Page | None = None,
) -> Page | None:
    minutes = ack_minutes(incident, policy)
    page, created = Page.objects.get_or_create(
        dedup_key=dedup_key,
        defaults={
            "incident": incident,
            "contact": contact,
            "tier": tier,
            "reason": reason[:200],
            "escalated_from": escalated_from,
            "ack_due_at": timezone.now() + timedelta(minutes=minutes),
        },
    )
    if not created:
        return None
    channels = [c for c in policy.channels if c in contact.channels()] or contact.channels()
    subject, body = _message(incident, page, minutes)
    for channel in channels:
        notification_enqueue(
            channel=channel,
            recipient=contact.address(channel),
            subject=subject,
            body=body,
            dedup_key=f"{dedup_key}:{channel}",
            incident=incident,
            page=page,
            contact=contact,
        )
    audit.log_created(
        actor=None,
        target=page,
        incident=incident,
        values={"contact": contact.pk, "tier": tier, "channels": channels, "reason": reason},
    )
    timeline_add(
        incident,
        kind=TimelineKind.PAGE,
        text=f"Paged {contact.name} ({contact.get_role_display()}, tier {tier}) by {', '.join(channels)}: "
        f"{reason}; acknowledge within {minutes} min",
    )
    return page


def incident_page(*, incident: Incident, reason: str, severity: str | None = None) -> list[Page]:
    """Page tier 1 of the policy for the incident's severity. Paging twice for one severity is a no-op."""
    severity = severity or incident.severity
    policy = EscalationPolicy.objects.filter(severity=severity).first()
    if policy is None:
        return []
    contacts = _reachable(
        StakeholderContact.objects.filter(role__in=_roles_for(incident, policy), escalation_tier=1), incident
    )
    pages = []
    for contact in contacts.order_by("role", "pk"):
        page = _page_contact(
            incident=incident,
            contact=contact,
            policy=policy,
            tier=1,
            reason=reason,
            dedup_key=f"page:{incident.pk}:{severity}:{contact.pk}",
        )
        if page is not None:
            pages.append(page)
    on_call = _unreachable(
        incident, _on_call(incident, policy, tier=1, paged_before=f"page:{incident.pk}:{severity}:"), tier=1
    )
    for target in on_call:
        page = _page_contact(
            incident=incident,
            contact=target.contact,
            policy=policy,
            tier=1,
            reason=f"{reason}; on call for {target.schedule_name}",
            dedup_key=f"page:{incident.pk}:{severity}:{target.contact.pk}",
        )
        if page is not None:
            _record_schedule(page, target)
            pages.append(page)
    if not contacts.exists() and not on_call:
        timeline_add(
            incident,
            kind=TimelineKind.DELIVERY_FAILED,
            text=f"No one to page for {severity}: add stakeholder contacts for "
            f"{', '.join(StakeholderRole(r).label for r in _roles_for(incident, policy))}.",
        )
    return pages


def incident_notify_state(*, incident: Incident) -> int:
    """An update (not a page) to the policy's roles when the incident enters a state the policy names."""
    policy = EscalationPolicy.objects.filter(severity=incident.severity).first()
    if policy is None or incident.state not in policy.notify_states:
        return 0
    contacts = _reachable(
        StakeholderContact.objects.filter(role__in=_roles_for(incident, policy), escalation_tier=1), incident
    )
    sent = 0
    subject = f"[{incident.severity}] {incident.reference} is now {incident.get_state_display().lower()}"
    link = settings.FIRELINE_BASE_URL.rstrip("/") + reverse("admin:incidents_incident_change", args=[incident.pk])
    for contact in contacts:
        channel = next((c for c in policy.channels if c in contact.channels()), None) or contact.channels()[0]
        created = notification_enqueue(
            channel=channel,
            recipient=contact.address(channel),
            subject=subject,
            body=f"{subject}.\nIncident: {link}\n",
            incident=incident,
            contact=contact,
            dedup_key=f"state:{incident.pk}:{incident.state}:{incident.reopen_count}:{contact.pk}",
        )
        sent += created is not None
    return sent


@transaction.atomic
def page_acknowledge(*, page_id: int, actor=None, via: str = "admin") -> Page:
    page = Page.objects.select_for_update(of=("self",)).select_related("contact", "incident").get(pk=page_id)
    if actor is not None:
        if not incident_is_visible(user=actor, incident=page.incident):
            raise Page.DoesNotExist("No such page.")
        if not actor.has_perm("incidents.acknowledge_page"):
            raise PermissionDenied("You may not acknowledge pages.")
    if page.state == PageState.ACKNOWLEDGED:
        return page
    if page.state == PageState.ESCALATED:
        raise ValidationError("This page already escalated; acknowledge the page that followed it.")

    def acknowledged(page: Page) -> None:
        page.acknowledged_by = actor_user(actor)
        page.acknowledged_via = via
        for notification in page.notifications.select_for_update().filter(state=NotificationState.SENT):
            notification.acknowledge()
            notification.save()

    by = f" by {actor.get_username()}" if actor_user(actor) else ""
    return transition_run(
        page,
        "acknowledge",
        actor=actor,
        lock=False,
        apply=acknowledged,
        log_details={"via": via},
        timeline_text=f"{page.contact.name} ({page.contact.get_role_display()}) acknowledged the page via {via}{by}",
        timeline_kind=TimelineKind.ACKNOWLEDGEMENT,
        timeline_at=lambda page: page.acknowledged_at,
    )


@transaction.atomic
def page_cancel(*, page_id: int, reason: str, actor) -> Page:
    """Stop waiting for an answer (the incident is closing): the page is neither acknowledged nor escalated."""
    page = Page.objects.select_for_update(of=("self",)).select_related("contact", "incident").get(pk=page_id)
    if actor is not None:
        if not incident_is_visible(user=actor, incident=page.incident):
            raise Page.DoesNotExist("No such page.")
        if not actor.has_perm("incidents.acknowledge_page"):
            raise PermissionDenied("You may not cancel pages.")
    if page.state in (PageState.CANCELLED, PageState.ACKNOWLEDGED, PageState.ESCALATED):
        return page
    return transition_run(
        page,
        "cancel",
        actor=actor,
        lock=False,
        log_details={"reason": reason},
        timeline_text=f"Page to {page.contact.name} ({page.contact.get_role_display()}) cancelled: {reason}",
        timeline_kind=TimelineKind.PAGE,
    )


@transaction.atomic
def page_escalate(*, page_id: int) -> list[Page]:
    page = Page.objects.select_for_update(of=("self",)).select_related("contact", "incident").get(pk=page_id)
    if page.state not in (PageState.PENDING, PageState.SENT, PageState.FAILED) or not page.incident.is_open:
        return []
    incident = page.incident
    policy = EscalationPolicy.objects.filter(severity=incident.severity).first()
    source = page.state
    transition_run(page, "escalate", actor=None, lock=False)  # the timeline says below whom it reached
    targets = []
    contact = page.contact
    if contact.backup_contact_id:
        targets += list(_reachable(StakeholderContact.objects.filter(pk=contact.backup_contact_id), incident))
    next_tier = page.tier + 1
    if policy is not None and next_tier <= policy.max_tier:
        targets += list(
            _reachable(StakeholderContact.objects.filter(role=contact.role, escalation_tier=next_tier), incident)
        )
    on_call = {}
    if policy is not None and next_tier <= policy.max_tier:
        reachable = _unreachable(incident, _on_call(incident, policy, next_tier, escalating=page), tier=next_tier)
        on_call = {t.contact.pk: t for t in reachable}
        targets += [t.contact for t in on_call.values()]
    why = (
        "could not be reached" if source == PageState.FAILED else f"did not acknowledge by {page.ack_due_at:%H:%M} UTC"
    )
    new_pages = []
    for target in {t.pk: t for t in targets}.values():
        schedule = on_call.get(target.pk)
        new = _page_contact(
            incident=incident,
            contact=target,
            policy=policy or EscalationPolicy(ack_timeout_minutes=15),
            tier=next_tier,
            reason=f"escalated: {contact.name} {why}" + (f"; on call for {schedule.schedule_name}" if schedule else ""),
            dedup_key=f"esc:{page.pk}:{target.pk}",
            escalated_from=page,
        )
        if new is not None:
            if schedule is not None:
                _record_schedule(new, schedule)
            new_pages.append(new)
    if new_pages:
        text = f"{contact.name} ({contact.get_role_display()}) {why}: escalated to " + ", ".join(
            p.contact.name for p in new_pages
        )
        kind = TimelineKind.ESCALATION
    else:
        text = (
            f"{contact.name} ({contact.get_role_display()}) {why}, and there is no one left to escalate to "
            f"(no backup, no tier-{next_tier} {contact.get_role_display()})"
        )
        kind = TimelineKind.DELIVERY_FAILED
    timeline_add(incident, kind=kind, text=text)
    return new_pages


def escalations_due(*, limit: int = 200) -> int:
    """Escalate every unacknowledged page past its due time, and every page that could not be delivered."""
    now = timezone.now()
    # A closed or dismissed incident needs no one woken up any more.
    live = Page.objects.filter(incident__state__in=OPEN_STATES)
    overdue = live.filter(state__in=[PageState.PENDING, PageState.SENT], ack_due_at__lte=now)
    failed = live.filter(state=PageState.FAILED)
    ids = list(overdue.values_list("pk", flat=True)[:limit]) + list(failed.values_list("pk", flat=True)[:limit])
    for page_id in ids:
        page_escalate(page_id=page_id)
    return len(ids)
