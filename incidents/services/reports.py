"""User reports: "this answer was wrong", from the product's button (API) or the public form.

Reports land in the inbox. A responder attaches them to an incident, opens an incident from them, or
dismisses them; each of these locks the reports, refuses any that already left the inbox (someone
else got there first), and writes the action log and the incident's timeline in one transaction.

The reporter's contact is personal data: it is stored only with their consent, and it never goes
into the action log or the timeline.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, IntegerField, Max, Min, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from audit import services as audit
from audit.actors import actor_user
from incidents.constants import OPEN_STATES, Category, DetectionSignal, TimelineKind
from incidents.models import AIFeature, Incident, ReportSource, ReportState, UserReport
from incidents.selectors import visible_incidents

from .incidents import incident_open
from .workflow import timeline_add

# One pasted answer with its context fits; a pasted book does not.
REPORT_TEXT_MAX = 10_000
REQUEST_ID_MAX = UserReport._meta.get_field("request_id").max_length
CONTACT_MAX = UserReport._meta.get_field("contact").max_length
DISMISS_REASON_MAX = 500
# How many reports an incident's summary quotes; the rest are attached and counted.
SUMMARY_QUOTES = 5
SUMMARY_QUOTE_CHARS = 400


def _text_problem(value: str, *, max_length: int, required: bool) -> str | None:
    if required and not value:
        return "This field is required."
    if len(value) > max_length:
        return f"At most {max_length:,} characters (this has {len(value):,})."
    if "\x00" in value:
        return "Null characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "The text is not valid Unicode."
    return None


@transaction.atomic
def report_submit(
    *,
    feature_key: str,
    what_user_saw: str,
    what_was_wrong: str,
    category: str = "",
    request_id: str = "",
    contact: str = "",
    contact_consent: bool = False,
    source: str,
) -> UserReport:
    """Store one report in the inbox. Every problem is reported at once, by field."""
    what_user_saw = (what_user_saw or "").strip()
    what_was_wrong = (what_was_wrong or "").strip()
    category = (category or "").strip()
    request_id = (request_id or "").strip()
    contact = (contact or "").strip()
    errors: dict[str, str] = {}
    for name, value, max_length, required in (
        ("what_user_saw", what_user_saw, REPORT_TEXT_MAX, True),
        ("what_was_wrong", what_was_wrong, REPORT_TEXT_MAX, True),
        ("request_id", request_id, REQUEST_ID_MAX, False),
        ("contact", contact, CONTACT_MAX, False),
    ):
        problem = _text_problem(value, max_length=max_length, required=required)
        if problem:
            errors[name] = problem
    if category and category not in Category.values:
        errors["category"] = f"Unknown category {category!r}; one of: {', '.join(Category.values)}."
    if contact and not contact_consent:
        # Never store personal data the reporter did not agree to give.
        errors["contact_consent"] = "Consent is needed to keep a contact; tick it or leave the contact empty."
    if source not in ReportSource.values:
        errors["source"] = f"Unknown source {source!r}."
    feature = AIFeature.objects.filter(key=(feature_key or "").strip()).first() if feature_key else None
    if feature is None:
        errors["feature"] = f"No AI feature with key {feature_key!r}." if feature_key else "This field is required."
    if errors:
        raise ValidationError(errors)
    return UserReport.objects.create(
        feature=feature,
        what_user_saw=what_user_saw,
        what_was_wrong=what_was_wrong,
        category=category,
        request_id=request_id,
        contact=contact,
        contact_consent=bool(contact),
        source=source,
    )


# --- triage: attach, open an incident, dismiss -------------------------------------------------


def _require_triage_permission(actor) -> None:
    if actor is None or not actor.has_perm("incidents.change_userreport"):
        raise PermissionDenied("You may not triage user reports.")


def _lock_inbox_reports(report_ids: Iterable[int]) -> list[UserReport]:
    """The reports, locked, in id order (so two responders never deadlock); all must be in the inbox."""
    ids = sorted({int(pk) for pk in report_ids})
    if not ids:
        raise ValidationError("Select at least one report.")
    reports = list(UserReport.objects.select_for_update().filter(pk__in=ids).order_by("pk"))
    missing = sorted(set(ids) - {r.pk for r in reports})
    if missing:
        raise ValidationError(f"No report {', '.join(f'#{pk}' for pk in missing)}; reload the page.")
    gone = [r for r in reports if r.state != ReportState.INBOX]
    if gone:
        listed = ", ".join(f"#{r.pk} ({r.get_state_display().lower()})" for r in gone)
        raise ValidationError(
            f"Only reports in the inbox can be triaged; {listed} left it already. Reload the page and try again."
        )
    return reports


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _attach(*, reports: list[UserReport], incident: Incident, actor) -> None:
    now = timezone.now()
    handler = actor_user(actor)
    UserReport.objects.filter(pk__in=[r.pk for r in reports]).update(
        state=ReportState.ATTACHED, incident=incident, handled_by=handler, handled_at=now
    )
    for report in reports:
        report.state, report.incident, report.handled_by, report.handled_at = (
            ReportState.ATTACHED,
            incident,
            handler,
            now,
        )
        audit.log_report_handled(actor=actor, report=report, before_state=ReportState.INBOX, incident=incident)
    timeline_add(
        incident,
        kind=TimelineKind.NOTE,
        text=f"{_plural(len(reports), 'user report')} attached ({', '.join(f'#{r.pk}' for r in reports)})",
        actor=handler,
        occurred_at=now,
    )


@transaction.atomic
def report_attach(*, report_ids: Iterable[int], incident_id: int, actor) -> Incident:
    """Attach inbox reports to an open incident the actor can see."""
    _require_triage_permission(actor)
    # Hidden and missing incidents get the same answer, so the refusal says nothing about either.
    incident = visible_incidents(user=actor).filter(pk=incident_id).first()
    if incident is None:
        raise Incident.DoesNotExist("No incident with that id.")
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.state not in OPEN_STATES:
        raise ValidationError(
            f"{incident.reference} is {incident.get_state_display().lower()}: reopen it, or open a new incident "
            "from these reports."
        )
    if incident.is_drill:
        raise ValidationError(f"{incident.reference} is a drill; real reports go to real incidents.")
    reports = _lock_inbox_reports(report_ids)
    _attach(reports=reports, incident=incident, actor=actor)
    return incident


def _quote(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > SUMMARY_QUOTE_CHARS:
        text = text[: SUMMARY_QUOTE_CHARS - 1].rstrip() + "…"
    return "> " + text


def _summary(reports: list[UserReport]) -> str:
    lines = [f"Opened from {_plural(len(reports), 'user report')}. What users saw:", ""]
    for report in reports[:SUMMARY_QUOTES]:
        lines += [_quote(report.what_user_saw), ">", "> — " + _quote(report.what_was_wrong)[2:], ""]
    if len(reports) > SUMMARY_QUOTES:
        lines.append(f"…and {len(reports) - SUMMARY_QUOTES} more, attached to this incident.")
    return "\n".join(lines).strip()


@transaction.atomic
def report_open_incident(*, report_ids: Iterable[int], actor, title: str | None = None) -> Incident:
    """Open an incident (detected by user report) from inbox reports of one feature, then attach them."""
    _require_triage_permission(actor)
    reports = _lock_inbox_reports(report_ids)
    features = {r.feature_id for r in reports}
    if len(features) > 1:
        raise ValidationError(
            "These reports are about different AI features; open an incident per feature "
            "(filter the inbox by feature first)."
        )
    feature = AIFeature.objects.get(pk=features.pop())
    categories = {r.category for r in reports}
    category = categories.pop() if len(categories) == 1 else ""
    if not (title or "").strip():
        what = Category(category).label.lower() if category else "problem"
        title = f"{feature.name}: {what} reported by {_plural(len(reports), 'user')}"
    incident = incident_open(
        title=title.strip()[:200],
        detection_signal=DetectionSignal.USER_REPORT,
        feature=feature,
        actor=actor,
        summary=_summary(reports),
        category=category,
        # Fireline heard of it when the first of these reports arrived: that is when it was detected.
        detected_at=min(r.received_at for r in reports),
        users_affected=len(reports),
        # A data leak starts restricted; whoever opened it must still see it.
        members=[actor] if actor_user(actor) else (),
    )
    _attach(reports=reports, incident=incident, actor=actor)
    return incident


@transaction.atomic
def report_dismiss(*, report_ids: Iterable[int], actor, reason: str) -> int:
    """Dismiss inbox reports (spam, not an AI problem, not enough to go on). Returns how many."""
    _require_triage_permission(actor)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ValidationError({"reason": "Say why these reports are dismissed."})
    if len(reason) > DISMISS_REASON_MAX:
        raise ValidationError({"reason": f"At most {DISMISS_REASON_MAX} characters."})
    reports = _lock_inbox_reports(report_ids)
    now = timezone.now()
    UserReport.objects.filter(pk__in=[r.pk for r in reports]).update(
        state=ReportState.DISMISSED, handled_by=actor, handled_at=now
    )
    for report in reports:
        report.state, report.handled_by, report.handled_at = ReportState.DISMISSED, actor, now
        audit.log_report_handled(actor=actor, report=report, before_state=ReportState.INBOX, reason=reason)
    return len(reports)


# --- reads (the report inbox) ------------------------------------------------------------------


def report_visibility_q(user) -> Q:
    """A report attached to an incident the user may not see is hidden with that incident."""
    return Q(incident__isnull=True) | Q(incident__in=visible_incidents(user=user).values("pk"))


def similar_open_q(report: UserReport) -> Q:
    """Reports in the inbox like this one: same feature and category, or the same AI request."""
    same = Q(feature_id=report.feature_id, category=report.category)
    if report.request_id:
        same |= Q(request_id=report.request_id)
    return Q(state=ReportState.INBOX) & same


def report_list(*, user) -> QuerySet[UserReport]:
    """Reports the user may see, each with how many open reports are like it (itself included when open).

    One correlated subquery per row inside a single SELECT, so the count costs no extra queries.
    """
    similar = (
        UserReport.objects.filter(state=ReportState.INBOX)
        .filter(
            Q(feature_id=OuterRef("feature_id"), category=OuterRef("category"))
            | (~Q(request_id="") & Q(request_id=OuterRef("request_id")))
        )
        .order_by()
        .values("state")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        UserReport.objects.filter(report_visibility_q(user))
        .annotate(similar_open=Coalesce(Subquery(similar, output_field=IntegerField()), Value(0)))
        .select_related("feature", "incident", "handled_by")
    )


def report_groups(*, user, limit: int = 8) -> list[dict]:
    """The biggest groups of similar open reports, by feature and category and by request id.

    Two GROUP BY queries, whatever the size of the inbox.
    """
    inbox = UserReport.objects.filter(report_visibility_q(user), state=ReportState.INBOX).order_by()
    by_kind = list(
        inbox.values("feature_id", "feature__name", "category")
        .annotate(count=Count("pk"), latest_id=Max("pk"), first_at=Min("received_at"), last_at=Max("received_at"))
        .filter(count__gte=2)
        .order_by("-count", "-last_at")[:limit]
    )
    by_request = list(
        inbox.exclude(request_id="")
        .values("request_id")
        .annotate(count=Count("pk"), latest_id=Max("pk"), first_at=Min("received_at"), last_at=Max("received_at"))
        .filter(count__gte=2)
        .order_by("-count", "-last_at")[:limit]
    )
    groups = []
    for row in by_kind:
        label = Category(row["category"]).label if row["category"] else "no category given"
        groups.append({**row, "label": f"{row['feature__name']} · {label}"})
    for row in by_request:
        groups.append({**row, "label": f"Request {row['request_id']}"})
    groups.sort(key=lambda g: (-g["count"], -g["last_at"].timestamp()))
    return groups[:limit]
