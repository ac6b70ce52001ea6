"""The narrow interface escalation uses: who the policy's schedules put on call for a tier, right now.

incidents.services.escalation calls these two functions and nothing else of this app.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from incidents.models import EscalationPolicy, Page, StakeholderContact

from .models import PolicyTier, Schedule, SchedulePage
from .rotation import on_call_at
from .selectors import display_name, schedule_spec, schedules_with_rows, users_by_id
from .services import contact_for_user


@dataclass(frozen=True)
class OnCallTarget:
    contact: StakeholderContact | None  # None: the schedule cannot be paged now, `problem` says why
    schedule_id: int
    schedule_name: str
    problem: str = ""


def on_call_targets(
    *,
    policy: EscalationPolicy | None,
    tier: int,
    escalating: Page | None = None,
    paged_before: str = "",
    at: datetime | None = None,
) -> list[OnCallTarget]:
    """The people on call now in the schedules the policy names at this tier; when a page escalates, also
    whoever is on call now in the schedule that page came from, if that is someone else (a handoff
    happened while it waited). Never for a drill: callers do not ask. A named schedule that cannot be
    paged now (a gap, a person without email) comes back without a contact and with the reason.

    paged_before: a dedup-key prefix; a schedule that already paged someone under it is not asked again
    (triage with an unchanged severity pages no one new, even after a handoff).
    """
    at = at or timezone.now()
    schedule_ids = []
    if policy is not None and policy.pk is not None:
        schedule_ids = list(PolicyTier.objects.filter(policy=policy, tier=tier).values_list("schedule_id", flat=True))
    named = set(schedule_ids)  # a gap here is worth saying; in the escalating page's own schedule it is not
    if paged_before and schedule_ids:
        done = set(
            SchedulePage.objects.filter(
                schedule_id__in=schedule_ids, page__dedup_key__startswith=paged_before
            ).values_list("schedule_id", flat=True)
        )
        schedule_ids = [s for s in schedule_ids if s not in done]
    if escalating is not None:
        origin = SchedulePage.objects.filter(page=escalating).values_list("schedule_id", flat=True).first()
        if origin is not None and origin not in schedule_ids:
            schedule_ids.append(origin)
    if not schedule_ids:
        return []
    schedules = schedules_with_rows(
        Schedule.objects.filter(pk__in=schedule_ids), start=at, end=at + timedelta(seconds=1)
    )
    on_call = {s.pk: (s.name, on_call_at(schedule_spec(s), at).user_id) for s in schedules}
    people = users_by_id(user_id for _, user_id in on_call.values())
    targets = []
    for schedule_id in schedule_ids:
        name, user_id = on_call.get(schedule_id, ("", None))
        user = people.get(user_id)
        contact = contact_for_user(user) if user is not None else None
        if contact is None:
            if schedule_id in named:
                problem = (
                    f"no one is on call for {name} right now"
                    if user is None
                    else f"{display_name(user)} is on call for {name} but has no email address to page"
                )
                targets.append(OnCallTarget(None, schedule_id, name, problem))
            continue
        if escalating is not None and contact.pk == escalating.contact_id:
            continue  # still the same person: the backup and the next tier take it from here
        targets.append(OnCallTarget(contact=contact, schedule_id=schedule_id, schedule_name=name))
    return targets


def page_record_schedule(*, page: Page, schedule_id: int) -> None:
    SchedulePage.objects.get_or_create(page=page, defaults={"schedule_id": schedule_id})
