"""The incident page's first screen and its cards: what each closed card says about itself, which cards
open by default for this incident's state, and which the person opened or closed before.

A card in alarm (an overdue clock, changed evidence, overdue action items) is open whatever the person
chose last time: the page must not hide what needs doing now.
"""

from __future__ import annotations

from incidents.constants import IncidentState, PageState
from preferences.services import open_cards_get

S = IncidentState
LATEST = 5
PAGES_ON_FIRST_SCREEN = 6


def _default_open(incident, ctx: dict) -> set[str]:
    opened = set()
    active = [a for a in ctx.get("containment_actions", []) if a.is_active]
    if incident.is_open and incident.state in (S.DETECTED, S.TRIAGED) and not active:
        opened.add("containment")
    if incident.state in (S.INVESTIGATING, S.FIXED):
        opened.add("evals")
    if incident.state in (S.VERIFIED, S.POSTMORTEM):
        opened.add("communications")  # what is left before closing: telling people
    return opened


def _alarms(ctx: dict) -> set[str]:
    alarms = set()
    if ctx.get("reg_any_overdue"):
        alarms.add("regulatory")
    if ctx.get("ai_overdue_count"):
        alarms.add("action-items")
    if ctx.get("evidence_changed"):
        alarms.add("investigation")
    return alarms


def _latest_page_per_contact(pages: list) -> list:
    """One row per person paged (their latest page), the unanswered first."""
    seen, rows = set(), []
    for page in pages:  # newest first
        if page.contact_id in seen:
            continue
        seen.add(page.contact_id)
        rows.append(page)
    waiting = {PageState.PENDING, PageState.SENT, PageState.FAILED}
    rows.sort(key=lambda p: (p.state not in waiting, p.state != PageState.ACKNOWLEDGED))
    return rows[:PAGES_ON_FIRST_SCREEN]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def incident_page_cards(request, incident, ctx: dict) -> dict:
    timeline = ctx.get("timeline", [])
    pages = ctx.get("pages", [])
    active = [a for a in ctx.get("containment_actions", []) if a.is_active]
    statuses = ctx.get("eval_statuses") or []
    switch = ctx.get("kill_switch")
    comms = ctx.get("comm_rows", [])
    acknowledged = sum(p.state == PageState.ACKNOWLEDGED for p in pages)

    notes = {
        "containment_note": f"{len(active)} active" if active else "nothing active",
        "switch_note": ("ON" if switch.is_on else "OFF") + (" · cohort rules" if switch.cohort_rules else "")
        if switch is not None
        else "",
        "pages_note": f"{_plural(len(pages), 'page')}, {acknowledged} acknowledged" if pages else "no one paged yet",
        "evals_note": (
            f"{_plural(len(statuses), 'case')}, {sum(1 for s in statuses if s.passes)} passing"
            if statuses
            else "no eval case linked yet"
        ),
        "comm_note": _plural(len(comms), "communication")
        + (f" · required: {', '.join(ctx['comm_required'])}" if ctx.get("comm_required") else ""),
        "reg_note": (
            "overdue"
            if ctx.get("reg_any_overdue")
            else _plural(len(ctx.get("reg_rows") or []), "obligation")
            if ctx.get("reg_rows")
            else "no reportability decision yet"
        ),
        "investigation_note": _plural(len(ctx.get("findings") or []), "finding")
        + (f", {_plural(len(ctx['evidence']), 'evidence record')}" if ctx.get("evidence") else ""),
        "ai_note": f"{ctx.get('ai_open_count', 0)} open"
        + (f", {ctx['ai_overdue_count']} overdue" if ctx.get("ai_overdue_count") else ""),
        "timeline_note": _plural(ctx.get("timeline_total", len(timeline)), "entry").replace("entrys", "entries"),
    }
    alarms = _alarms(ctx)
    remembered = open_cards_get(request, page="incident")
    opened = {card for card in _default_open(incident, ctx) if remembered.get(card, True)}
    opened |= {card for card, is_open in remembered.items() if is_open}
    opened |= alarms
    return {
        **notes,
        "latest_timeline": timeline[:LATEST],
        "page_summary": _latest_page_per_contact(pages),
        "active_containment": active,
        "show_evals": bool(statuses)
        or incident.state in (S.INVESTIGATING, S.FIXED, S.VERIFIED)
        or (incident.is_open and incident.root_cause_layer),
        "cards_open": sorted(opened),
        "cards_alarm": sorted(alarms),
    }
