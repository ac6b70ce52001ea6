"""The playbook checklist the incident page shows for each phase."""

from incidents.constants import ContainmentType, IncidentState, RootCauseLayer

S = IncidentState

CHECKLISTS: dict[str, tuple[str, list[str]]] = {
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
            "SEV1/SEV2: bring in leadership, legal and PR now.",
        ],
    ),
    S.CONTAINED: (
        "Confirm containment holds",
        [
            "Check the alert or the reports have stopped.",
            "Tell the stakeholders the triage matrix names that the feature is contained.",
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
            "Send the communications the triage matrix requires; meet every regulatory clock.",
        ],
    ),
}


def checklist_for(state: str) -> tuple[str, list[str]] | None:
    return CHECKLISTS.get(state)
