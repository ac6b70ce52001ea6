"""The playbook checklist the incident page shows for each phase."""

from incidents.constants import ContainmentType, IncidentState, RootCauseLayer

S = IncidentState

CHECKLISTS: dict[str, tuple[str, list[str | tuple[str, str]]]] = {
    S.DETECTED: (
        "Detect and triage",
        [
            "Confirm it is real: reproduce from the alert or the user report.",
            "Set the category (one of six) and the impact: users affected, public?, privacy involved?",
            "Read the severity the triage matrix gives; override only with a reason.",
            "Assign a commander and add the responders as members.",
            "Restrict the incident if it touches personal data (data leaks are restricted already).",
        ],
    ),
    S.TRIAGED: (
        "Contain",
        [
            *[label for _, label in ContainmentType.choices],
            "Record who approved it and whether it can be reversed.",
            ("SEV1/SEV2: bring in leadership, legal and PR now.", "commander"),
        ],
    ),
    S.CONTAINED: (
        "Confirm containment holds",
        [
            "Check the alert or the reports have stopped.",
            ("Tell the stakeholders the triage matrix names that the feature is contained.", "communications"),
        ],
    ),
    S.INVESTIGATING: (
        "Investigate from the AI audit trail",
        [
            "The request that went wrong (input, user cohort, time).",
            "The model version that served it: did it change?",
            "The active prompt and its version: did it change?",
            "The retrieved context: which documents, from where?",
            "The full model output against what the user saw.",
            "The moderation decisions at each stage.",
            "Name the root-cause layer.",
        ],
    ),
    S.FIXED: (
        "Fix at the right layer",
        [
            *[
                f"{label}: is the fix at this layer?"
                for value, label in RootCauseLayer.choices
                if value in ("prompt", "model", "retrieval", "moderation", "architecture")
            ],
            "A fix at another layer than the root cause needs a written justification.",
            "Add eval cases (input, expected behaviour, failure pattern) that reproduce the failure.",
        ],
    ),
    S.VERIFIED: (
        "Prove the fix and write it up",
        [
            "Judge the failure rate over many runs, on the upper bound of its confidence interval.",
            "Keep the eval cases in the permanent bench.",
            "Start the post-mortem if the triage matrix requires one.",
        ],
    ),
    S.POSTMORTEM: (
        "Post-mortem",
        [
            "What happened: the timeline.",
            "Impact: users affected, what they saw, what they did.",
            "Root cause, from the findings.",
            "Why it was not caught earlier: eval, monitoring, process gaps.",
            "What is changing: action items with owners and due dates.",
            ("Send the communications the triage matrix requires.", "communications"),
            ("Meet every regulatory clock: decide reportability, submit each report.", "legal"),
        ],
    ),
}


# Who does an item when the playbook does not say: the commander owns the incident, responders dig.
DEFAULT_OWNER = {
    S.DETECTED: "commander",
    S.TRIAGED: "commander",
    S.CONTAINED: "commander",
    S.INVESTIGATING: "responders",
    S.FIXED: "responders",
    S.VERIFIED: "commander",
    S.POSTMORTEM: "commander",
}
OWNER_LABELS = {"legal": "Legal", "communications": "Communications", "responders": "Responders"}


def checklist_for(state: str) -> tuple[str, list[str]] | None:
    found = CHECKLISTS.get(state)
    if found is None:
        return None
    title, items = found
    return title, [item if isinstance(item, str) else item[0] for item in items]


def checklist_with_owners(state: str, *, commander_name: str) -> tuple[str, list[dict]] | None:
    """The phase's checklist, each item with who does it: the commander by name, or a role."""
    found = CHECKLISTS.get(state)
    if found is None:
        return None
    title, items = found
    rows = []
    for item in items:
        text, owner = (item, DEFAULT_OWNER.get(state, "commander")) if isinstance(item, str) else item
        label = (commander_name or "Commander (none yet)") if owner == "commander" else OWNER_LABELS[owner]
        rows.append({"text": text, "owner": label})
    return title, rows
