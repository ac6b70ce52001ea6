"""The post-mortem as data: what its PDF prints, frozen as canonical JSON when it is published.

`postmortem_snapshot` reads the live post-mortem and incident into a plain dict (sections, the incident's
timeline with each entry's audience class and outside wording, key events, action items, reviewers,
and the names and roles of the people it mentions). Publishing stores it as revision 1 with the SHA-256
of its canonical JSON; the PDF renders a stored revision, so later changes to the incident never change
what was published. A later change is published as a new revision with the diff from the last one.

Nothing here renders HTML or touches WeasyPrint: services import it to freeze, exports to print.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from datetime import date, datetime

from incidents.models import PostMortem

from .audience import classify_entry, incident_people, people_table

SNAPSHOT_VERSION = 1


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def postmortem_snapshot(postmortem: PostMortem) -> dict:
    """The post-mortem and everything its PDF prints, as JSON-ready data."""
    incident = postmortem.incident
    timeline = []
    for entry in incident.timeline.order_by("occurred_at", "pk"):
        classified = classify_entry(entry.kind, entry.text, is_automatic=entry.is_automatic)
        if classified.is_paperwork:
            continue  # the review of this very document, drafts and filings: not what happened
        timeline.append(
            {
                "id": entry.pk,
                "occurred_at": _iso(entry.occurred_at),
                "kind": entry.kind,
                "kind_label": entry.get_kind_display(),
                "text": entry.text,
                "outside_text": classified.outside_text,
                "audience": str(classified.audience),
                "actor": entry.actor_id,
                "is_key_event": bool(entry.is_key_event),
            }
        )
    action_items = [
        {
            "id": item.pk,
            "title": item.title,
            "kind": item.get_kind_display(),
            "owner": item.owner_id,
            "due_date": _iso(item.due_date),
            "state": item.get_state_display(),
            "is_overdue": bool(item.is_overdue),
            "wont_do_reason": item.wont_do_reason,
        }
        for item in postmortem.report_action_items()
    ]
    reviewers = [
        {
            "role": str(row["role"]),
            "label": row["label"],
            "user": row["approval"].user_id if row["approval"] else None,
            "approved_at": _iso(row["approval"].approved_at) if row["approval"] else None,
        }
        for row in postmortem.review_status()
    ]
    return {
        "version": SNAPSHOT_VERSION,
        "incident": {
            "reference": incident.reference,
            "title": incident.title,
            "severity": incident.get_severity_display() if incident.severity else "",
            "category": incident.get_category_display() if incident.category else "",
            "feature": incident.feature.name if incident.feature_id else "",
        },
        "postmortem": {
            "state": postmortem.state,
            "state_label": postmortem.get_state_display(),
            "published_at": _iso(postmortem.published_at),
            "approved_at": _iso(postmortem.approved_at),
            "classification_marking": postmortem.classification_marking,
            "is_public": bool(postmortem.needs_communications_review),
        },
        "sections": [
            {"field": name, "heading": heading, "text": text or ""} for name, heading, text in postmortem.sections
        ],
        "learnings": [
            {"scope": learning.get_scope_display(), "text": learning.text} for learning in postmortem.learnings.all()
        ],
        "timeline": timeline,
        "key_events": [item["id"] for item in timeline if item["is_key_event"]],
        "action_items": action_items,
        "reviewers": reviewers,
        "people": {str(pk): row for pk, row in people_table(incident_people(incident)).items()},
    }


def canonical_json(content: dict) -> str:
    """One spelling of the content: sorted keys, no spaces, UTF-8 text (what the SHA-256 is taken of)."""
    return json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def content_sha256(content: dict) -> str:
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


def snapshot_lines(content: dict) -> list[str]:
    """The snapshot as lines a reader can diff: sections, timeline, action items, reviewers."""
    people = content.get("people", {})

    def who(pk) -> str:
        row = people.get(str(pk)) if pk is not None else None
        if row is None:
            return "nobody" if pk is None else "someone"
        return f"{row['name'] or row['role']} ({row['role']})"

    lines = [f"Incident: {content['incident']['reference']} {content['incident']['title']}"]
    lines.append(f"Severity: {content['incident']['severity'] or 'not set'}")
    for section in content["sections"]:
        lines.append(f"## {section['heading']}")
        lines.extend(section["text"].splitlines() or [""])
    lines.append("## Timeline")
    for item in content["timeline"]:
        star = "★ " if item["is_key_event"] else ""
        lines.append(f"{star}{item['occurred_at'][:16].replace('T', ' ')} [{item['kind_label']}] {item['text']}")
    lines.append("## Action items")
    for item in content["action_items"]:
        lines.append(
            f"- {item['title']} · {item['kind']} · {who(item['owner'])} · due {item['due_date']} · {item['state']}"
        )
    lines.append("## Reviewers")
    for row in content["reviewers"]:
        approved = f"{who(row['user'])}, {row['approved_at'][:16].replace('T', ' ')}" if row["user"] else "not yet"
        lines.append(f"- {row['label']}: {approved}")
    if content.get("learnings"):
        lines.append("## Learnings")
        lines.extend(f"- {row['scope']}: {row['text']}" for row in content["learnings"])
    return lines


def snapshot_diff(before: dict, after: dict, *, before_name: str, after_name: str) -> str:
    """A unified diff of two snapshots' lines; empty when they print the same."""
    return "\n".join(
        difflib.unified_diff(snapshot_lines(before), snapshot_lines(after), before_name, after_name, lineterm="", n=1)
    )
