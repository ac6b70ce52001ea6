"""Investigation: reading the AI audit trail from an incident.

Selectors search the trail, list evidence and count versions over time; services attach evidence
and propose "what changed" hypotheses. Audit records are visible to holders of
`audit.view_auditrecord`; evidence belongs to its incident and is exactly as visible as it is.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db import connection, transaction
from django.db.models import Count, Min, Q, QuerySet
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from audit import services as audit
from audit.actors import actor_user
from audit.trail.ingest import record_content_hash, user_ref_for
from audit.trail.models import AuditRecord, Evidence, Verdict
from incidents.constants import TimelineKind
from incidents.models import AIFeature, Incident, TimelineEntry
from incidents.selectors import incident_is_visible
from incidents.services.workflow import timeline_add

# How many records one "attach" may carry: a selection, not the whole trail.
EVIDENCE_ATTACH_MAX = 500

# The window "what changed" looks at, around when the incident started.
CHANGE_WINDOW_BEFORE = timedelta(hours=24)
CHANGE_WINDOW_AFTER = timedelta(hours=6)

HYPOTHESIS_PREFIX = "Hypothesis: "

# --- search -----------------------------------------------------------------------------------


def can_view_records(user) -> bool:
    return bool(user and user.is_active and user.has_perm("audit.view_auditrecord"))


def _feature_id(feature: AIFeature | int | str) -> int | None:
    if isinstance(feature, AIFeature):
        return feature.pk
    if isinstance(feature, int) or (isinstance(feature, str) and feature.isdigit()):
        return int(feature)
    return AIFeature.objects.filter(key=feature).values_list("pk", flat=True).first()


def verdict_q(verdict: str) -> Q:
    """Records where any moderation decision gave this verdict."""
    if verdict not in Verdict.values:
        raise ValidationError({"verdict": f"Unknown verdict {verdict!r}."})
    if connection.features.supports_json_field_contains:
        return Q(moderation__contains=[{"verdict": verdict}])
    # SQLite keeps JSON as text written by json.dumps with its default separators.
    return Q(moderation__icontains=json.dumps({"verdict": verdict})[1:-1])


def text_q(text: str) -> Q:
    return Q(input__icontains=text) | Q(model_output__icontains=text) | Q(user_output__icontains=text)


def user_ref_q(value: str) -> Q:
    """A stored reference or a raw user id: both are equality lookups on the indexed column."""
    value = value.strip()
    return Q(user_ref=value) | Q(user_ref=user_ref_for(value))


def audit_record_search(
    *,
    user,
    feature: AIFeature | int | str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    model_version: str | None = None,
    prompt_version: str | None = None,
    request_id: str | None = None,
    user_ref: str | None = None,
    text: str | None = None,
    verdict: str | None = None,
) -> QuerySet[AuditRecord]:
    """Audit records matching every given filter, newest first.

    Feature and the occurred_at window come first so the (feature, occurred_at) index carries the
    query; the other filters narrow what that index found. `end` is exclusive.
    """
    if not can_view_records(user):
        return AuditRecord.objects.none()
    qs = AuditRecord.objects.all()
    if feature is not None:
        qs = qs.filter(feature_id=_feature_id(feature))
    if start is not None:
        qs = qs.filter(occurred_at__gte=start)
    if end is not None:
        qs = qs.filter(occurred_at__lt=end)
    if model_version:
        qs = qs.filter(model_version=model_version)
    if prompt_version:
        qs = qs.filter(prompt_version=prompt_version)
    if request_id:
        qs = qs.filter(request_id=request_id.strip())
    if user_ref:
        qs = qs.filter(user_ref_q(user_ref))
    if verdict:
        qs = qs.filter(verdict_q(verdict))
    if text:
        qs = qs.filter(text_q(text))
    return qs.select_related("feature").order_by("-occurred_at", "-id")


def audit_record_page(*, user, page: int = 1, per_page: int = 50, **filters: Any) -> Page:
    """One page of `audit_record_search`; out-of-range page numbers give the last page."""
    paginator = Paginator(audit_record_search(user=user, **filters), min(max(per_page, 1), 500))
    return paginator.get_page(page)


# --- evidence ---------------------------------------------------------------------------------


def _describe_requests(request_ids: list[str], limit: int = 3) -> str:
    shown = ", ".join(request_ids[:limit])
    more = len(request_ids) - limit
    noun = "request" if len(request_ids) == 1 else "requests"
    return f"{noun} {shown}" + (f" and {more} more" if more > 0 else "")


@transaction.atomic
def evidence_attach(*, incident_id: int, record_ids, actor, note: str = "") -> list[Evidence]:
    """Attach audit records to an incident, freezing each one's content hash as it is now.

    Records already attached are left as they are (their hash stays the one frozen first).
    """
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    if not incident_is_visible(user=actor, incident=incident):
        raise Incident.DoesNotExist("No incident with that id.")
    if not actor.has_perm("audit.add_evidence"):
        raise PermissionDenied("You may not attach evidence.")
    if not incident.is_open:
        raise ValidationError(f"{incident.reference} is {incident.get_state_display().lower()}: reopen it first.")
    ids = list(dict.fromkeys(int(pk) for pk in record_ids))
    if not ids:
        raise ValidationError("Choose the records to attach.")
    if len(ids) > EVIDENCE_ATTACH_MAX:
        raise ValidationError(f"Attach at most {EVIDENCE_ATTACH_MAX} records at a time; narrow the search.")
    records = {r.pk: r for r in AuditRecord.objects.filter(pk__in=ids)}
    missing = [pk for pk in ids if pk not in records]
    if missing:
        raise ValidationError(f"No audit record with id {', '.join(map(str, missing))}.")
    attached = set(Evidence.objects.filter(incident=incident, record_id__in=ids).values_list("record_id", flat=True))
    note = (note or "").strip()
    created = Evidence.objects.bulk_create(
        [
            Evidence(
                incident=incident,
                record=records[pk],
                content_hash=record_content_hash(records[pk]),
                note=note,
                attached_by=actor_user(actor),
            )
            for pk in ids
            if pk not in attached
        ]
    )
    for evidence in created:
        audit.log_created(
            actor=actor,
            target=evidence,
            values={
                "record": evidence.record_id,
                "request_id": evidence.record.request_id,
                "content_hash": evidence.content_hash,
                "note": note,
            },
            incident=incident,
        )
    if created:
        timeline_add(
            incident,
            kind=TimelineKind.CHANGE,
            text=f"Evidence attached: {_describe_requests([e.record.request_id for e in created])}"
            + (f" ({note})" if note else ""),
            actor=actor,
        )
    return created


def evidence_list(*, user, incident: Incident) -> list[Evidence]:
    """The incident's evidence with its records; empty for anyone who may not see it."""
    if not (user.has_perm("audit.view_evidence") and incident_is_visible(user=user, incident=incident)):
        return []
    return list(incident.evidence.select_related("record", "record__feature", "attached_by"))


def evidence_integrity(incident: Incident, evidence: list[Evidence] | None = None) -> list[tuple[Evidence, bool]]:
    """Each piece of evidence, and whether its record's content still hashes to the frozen value.

    The hash is recomputed from the row, not read from the record's own `content_hash` column: a
    change made behind Fireline's back (SQL, a restore) would not update that column.
    """
    if evidence is None:
        evidence = list(incident.evidence.select_related("record", "record__feature", "attached_by"))
    return [(e, record_content_hash(e.record) == e.content_hash) for e in evidence]


def evidence_replay_export(*, incident: Incident, evidence: list[Evidence] | None = None) -> dict[str, Any]:
    """What a replay harness needs to send each evidence request again, and what came back then.

    The caller has checked that the user may see the incident and its evidence.
    """
    if evidence is None:
        evidence = list(incident.evidence.select_related("record", "record__feature"))
    records = []
    for item, is_intact in evidence_integrity(incident, evidence):
        record = item.record
        parameters = record.parameters if isinstance(record.parameters, dict) else {}
        records.append(
            {
                "request_id": record.request_id,
                "occurred_at": record.occurred_at.isoformat(),
                "feature": record.feature.key,
                "model_provider": record.model_provider,
                "model_version": record.model_version,
                "prompt_id": record.prompt_id,
                "prompt_version": record.prompt_version,
                "parameters": record.parameters,
                "temperature": parameters.get("temperature"),
                "seed": parameters.get("seed"),
                "input": record.input,
                "retrieved_context": record.retrieved_context,
                "expected": {
                    "model_output": record.model_output,
                    "user_output": record.user_output,
                    "moderation": record.moderation,
                },
                "content_deleted_at": record.content_deleted_at.isoformat() if record.content_deleted_at else None,
                "attached_at": item.attached_at.isoformat(),
                "content_hash": {
                    "frozen": item.content_hash,
                    "current": record_content_hash(record),
                    "is_intact": is_intact,
                },
            }
        )
    return {
        "format": "fireline-replay/1",
        "incident": {"id": incident.pk, "reference": incident.reference, "feature": incident.feature.key},
        "exported_at": timezone.now().isoformat(),
        "records": records,
    }


# --- what changed -----------------------------------------------------------------------------

# Colours picked to stay apart for the common kinds of colour blindness (Okabe–Ito), darkest first.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999933", "#000000"]
MAX_SERIES = len(PALETTE)
OTHER = "(other versions)"


@dataclass
class VersionSeries:
    version: str
    counts: list[int]
    first_seen: datetime | None  # ever, for this feature; not only inside the window
    is_new: bool  # first seen inside the window
    colour: str = "#999"

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def label(self) -> str:
        return self.version or "(none)"


@dataclass
class WhatChanged:
    feature: AIFeature
    start: datetime
    end: datetime
    bucket: str
    buckets: list[datetime]
    models: list[VersionSeries] = field(default_factory=list)
    prompts: list[VersionSeries] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(s.total for s in self.models)

    def new_versions(self) -> list[tuple[str, VersionSeries]]:
        """(kind, series) for every real version first seen inside the window, earliest first."""
        found = [("model", s) for s in self.models if s.is_new and s.version not in ("", OTHER)]
        found += [("prompt", s) for s in self.prompts if s.is_new and s.version not in ("", OTHER)]
        return sorted(found, key=lambda pair: pair[1].first_seen)


def _truncate(moment: datetime, bucket: str) -> datetime:
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if bucket == "day" else moment


def _series(
    *, feature: AIFeature, start: datetime, end: datetime, bucket: str, buckets: list[datetime], column: str
) -> list[VersionSeries]:
    trunc = TruncHour if bucket == "hour" else TruncDay
    rows = (
        AuditRecord.objects.filter(feature=feature, occurred_at__gte=start, occurred_at__lt=end)
        .annotate(slot=trunc("occurred_at", tzinfo=UTC))
        .values("slot", column)
        .annotate(n=Count("id"))
        .order_by()
    )
    index = {moment: i for i, moment in enumerate(buckets)}
    counts: dict[str, list[int]] = {}
    for row in rows:
        slot = row["slot"]
        if timezone.is_naive(slot):
            slot = timezone.make_aware(slot, UTC)
        position = index.get(slot.astimezone(UTC))
        if position is None:
            continue
        counts.setdefault(row[column], [0] * len(buckets))[position] += row["n"]
    if not counts:
        return []
    first_seen = dict(
        AuditRecord.objects.filter(feature=feature, **{f"{column}__in": list(counts)})
        .order_by()
        .values(column)
        .annotate(first=Min("occurred_at"))
        .values_list(column, "first")
    )
    series = [
        VersionSeries(
            version=version,
            counts=values,
            first_seen=first_seen.get(version),
            is_new=first_seen.get(version) is not None and first_seen[version] >= start,
        )
        for version, values in counts.items()
    ]
    series.sort(key=lambda s: (s.first_seen or start, s.version))
    if len(series) > MAX_SERIES:
        # Keep every new version and the busiest old ones; fold the rest so the chart stays legible.
        keep = {id(s) for s in series if s.is_new}
        for s in sorted(series, key=lambda s: -s.total):
            if len(keep) >= MAX_SERIES - 1:
                break
            keep.add(id(s))
        rest = [s for s in series if id(s) not in keep]
        series = [s for s in series if id(s) in keep]
        if rest:
            folded = [sum(per_bucket) for per_bucket in zip(*(s.counts for s in rest), strict=True)]
            series.append(VersionSeries(version=OTHER, counts=folded, first_seen=None, is_new=False))
    for i, s in enumerate(series):
        s.colour = "#9e9e9e" if s.version == OTHER else PALETTE[i % len(PALETTE)]
    return series


def what_changed(*, feature: AIFeature, start: datetime, end: datetime, bucket: str = "hour") -> WhatChanged:
    """Model and prompt versions of a feature's requests per hour or day in [start, end).

    Two GROUP BY queries per dimension: counts per (bucket, version) in the window, and each
    version's first appearance ever, so a version that merely resumed is not called new.
    """
    if bucket not in ("hour", "day"):
        raise ValueError("bucket is 'hour' or 'day'")
    if end <= start:
        raise ValueError("the window ends before it starts")
    step = timedelta(hours=1) if bucket == "hour" else timedelta(days=1)
    buckets = []
    moment = _truncate(start, bucket)
    while moment < end:
        buckets.append(moment)
        moment += step
    common = {"feature": feature, "start": start, "end": end, "bucket": bucket, "buckets": buckets}
    return WhatChanged(
        **common,
        models=_series(**common, column="model_version"),
        prompts=_series(**common, column="prompt_version"),
    )


def incident_change_window(incident: Incident, *, now: datetime | None = None) -> tuple[datetime, datetime]:
    """From a day before the incident started (or was detected) to six hours after, not past now."""
    anchor = incident.occurred_at or incident.detected_at
    now = now or timezone.now()
    start = anchor - CHANGE_WINDOW_BEFORE
    end = min(anchor + CHANGE_WINDOW_AFTER, now)
    if end <= start:
        end = start + timedelta(hours=1)
    return start, end


def incident_what_changed(*, incident: Incident, now: datetime | None = None) -> WhatChanged:
    start, end = incident_change_window(incident, now=now)
    return what_changed(feature=incident.feature, start=start, end=end, bucket="hour")


def _hypothesis_key(kind: str, version: str) -> str:
    return f"{HYPOTHESIS_PREFIX}{kind} version {version} first seen at "


@transaction.atomic
def incident_propose_change_hypotheses(*, incident_id: int, actor=None) -> list[TimelineEntry]:
    """Put every model or prompt version first seen in the incident's window on its timeline.

    Each version is proposed once: running this again adds only versions not proposed before. The
    entry is dated when the version first appeared, so the timeline reads in the order it happened.
    """
    incident = Incident.objects.select_for_update().select_related("feature").get(pk=incident_id)
    if actor is not None:
        if not incident_is_visible(user=actor, incident=incident):
            raise Incident.DoesNotExist("No incident with that id.")
        if not (actor.has_perm("audit.view_auditrecord") and actor.has_perm("incidents.add_timelineentry")):
            raise PermissionDenied("You may not add hypotheses to the timeline.")
    changed = incident_what_changed(incident=incident)
    proposed = list(incident.timeline.filter(text__startswith=HYPOTHESIS_PREFIX).values_list("text", flat=True))
    window = f"{changed.start:%Y-%m-%d %H:%M}–{changed.end:%Y-%m-%d %H:%M} UTC"
    created = []
    for kind, series in changed.new_versions():
        key = _hypothesis_key(kind, series.version)
        if any(text.startswith(key) for text in proposed):
            continue
        share = f"{series.total} of {changed.total} requests in the window used it"
        entry = timeline_add(
            incident,
            kind=TimelineKind.NOTE,
            text=f"{key}{series.first_seen:%Y-%m-%d %H:%M} UTC (within the window {window}; {share}).",
            occurred_at=series.first_seen,
        )
        audit.log_timeline_note(actor=actor, entry=entry)
        proposed.append(entry.text)
        created.append(entry)
    return created
