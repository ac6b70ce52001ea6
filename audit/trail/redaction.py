"""Redaction rules: personal data replaced in audit records before they are stored.

Rules are regular expressions kept in the database (seeded for card numbers, e-mail addresses and
phone numbers, editable in the admin) and run in `position` order on a record's input, outputs and
retrieved documents when its feature redacts personal data. Compiled once per ingest request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from .. import services as audit
from .models import RedactionRule


class RedactionRuleError(Exception):
    """An active redaction rule does not compile. Storing unredacted data is worse than storing none."""


# --- compiling and running ------------------------------------------------------------------------
#
# Python's regular expression engine scans a text at tens of nanoseconds a character when a pattern
# does not start with a plain character or class, and the seeded rules start with lookbehinds. Two
# shortcuts, both derived from the parsed pattern and both exact (a rule they cannot reason about
# simply runs over the whole text):
# - required characters: every e-mail match contains "@", so texts without one are skipped;
# - runs: every card-number match consists of digits, spaces and dashes only, at least 13 of them,
#   so the rule is tried only inside such runs (found by a fast scan), never across prose.
# tests/audit/trail/test_ingest.py checks both against a plain re.subn on generated texts.


@dataclass(frozen=True)
class CompiledRule:
    name: str
    regex: re.Pattern
    replacement: str  # the text that replaces a match, as the admin typed it
    template: str  # the same for re.sub, which reads backslashes as escapes
    required: frozenset[str] = frozenset()  # characters every match contains
    runs: re.Pattern | None = None  # the stretches of text a match can lie in, when they are narrow
    reach: int = 0  # how far past a match its lookaheads (and anchors) may look


def _sre():
    from re import _constants, _parser  # CPython's parser; used only if present and as expected

    return _constants, _parser


def _required_chars(items, sre) -> set[str]:
    """Characters that every match consumes; an empty set when none is certain."""
    required: set[str] = set()
    for op, av in items:
        if op is sre.LITERAL:
            required.add(chr(av))
        elif op is sre.IN and len(av) == 1 and av[0][0] is sre.LITERAL:
            required.add(chr(av[0][1]))
        elif op is sre.SUBPATTERN:
            if not av[1] & re.IGNORECASE:
                required |= _required_chars(av[3], sre)
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            if av[0] >= 1:
                required |= _required_chars(av[2], sre)
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            required |= _required_chars(av, sre)
        elif op is sre.BRANCH and av[1]:
            required |= set.intersection(*(_required_chars(branch, sre) for branch in av[1]))
    return required


class _Unknown(Exception):
    """The pattern uses something the run analysis does not reason about."""


def _class_items(op, av, sre) -> list[str]:
    """A LITERAL or IN node as items of a character class, e.g. ["\\d", "\\U0000002d"]."""
    if op is sre.LITERAL:
        return [f"\\U{av:08x}"]
    categories = {sre.CATEGORY_DIGIT: r"\d", sre.CATEGORY_SPACE: r"\s", sre.CATEGORY_WORD: r"\w"}
    items = []
    for item_op, item_av in av:
        if item_op is sre.LITERAL:
            items.append(f"\\U{item_av:08x}")
        elif item_op is sre.RANGE:
            items.append(f"\\U{item_av[0]:08x}-\\U{item_av[1]:08x}")
        elif item_op is sre.CATEGORY and item_av in categories:
            items.append(categories[item_av])
        else:  # negated sets, \D, \S, ...: too wide to be worth it
            raise _Unknown
    return items


def _repeat_ops(sre) -> tuple:
    return (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None))


def _consumed_class(items, sre, out: list[str]) -> None:
    """Append to `out` the class items of every character a match can consume (lookarounds excluded)."""
    for op, av in items:
        if op in (sre.LITERAL, sre.IN):
            out.extend(_class_items(op, av, sre))
        elif op is sre.SUBPATTERN:
            if av[1] & re.IGNORECASE:
                raise _Unknown
            _consumed_class(av[3], sre, out)
        elif op in _repeat_ops(sre):
            _consumed_class(av[2], sre, out)
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            _consumed_class(av, sre, out)
        elif op is sre.BRANCH:
            for branch in av[1]:
                _consumed_class(branch, sre, out)
        elif op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
            continue  # zero-width: they look at text, they do not consume it
        else:  # any character, backreferences, conditionals, ...
            raise _Unknown


def _first_class(items, sre, out: list[str]) -> bool:
    """Append the class items a match can start with; return whether `items` can match empty text."""
    for op, av in items:
        if op in (sre.LITERAL, sre.IN):
            out.extend(_class_items(op, av, sre))
            return False
        if op in (sre.ASSERT, sre.ASSERT_NOT, sre.AT):
            continue
        if op is sre.SUBPATTERN:
            if av[1] & re.IGNORECASE:
                raise _Unknown
            nullable = _first_class(av[3], sre, out)
        elif op in _repeat_ops(sre):
            nullable = _first_class(av[2], sre, out) or av[0] == 0
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            nullable = _first_class(av, sre, out)
        elif op is sre.BRANCH:
            nullable = any([_first_class(branch, sre, out) for branch in av[1]])
        else:
            raise _Unknown
        if not nullable:
            return False
    return True


def _reach(items, sre) -> int:
    """The widest lookaround in a parsed pattern (bounded, or _Unknown)."""
    widest = 0
    for op, av in items:
        if op in (sre.ASSERT, sre.ASSERT_NOT):
            high = av[1].getwidth()[1]
            if high >= sre.MAXREPEAT:
                raise _Unknown
            widest = max(widest, high, _reach(av[1].data, sre))
        elif op is sre.SUBPATTERN:
            widest = max(widest, _reach(av[3].data, sre))
        elif op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
            widest = max(widest, _reach(av[2].data, sre))
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            widest = max(widest, _reach(av.data, sre))
        elif op is sre.BRANCH:
            widest = max([widest, *(_reach(branch.data, sre) for branch in av[1])])
    return widest


def _analyse(pattern: str) -> tuple[frozenset[str], re.Pattern | None, int]:
    try:
        sre, parser = _sre()
        parsed = parser.parse(pattern, 0)
        if parsed.state.flags & re.IGNORECASE:
            return frozenset(), None, 0
        required = frozenset(_required_chars(parsed.data, sre))
    except Exception:  # another Python's internals: no shortcuts, the rule runs over every text
        return frozenset(), None, 0
    try:
        min_width = parsed.getwidth()[0]
        alphabet: list[str] = []
        _consumed_class(parsed.data, sre, alphabet)
        first: list[str] = []
        if min_width < 1 or _first_class(parsed.data, sre, first):
            raise _Unknown
        # Two more than the widest lookaround, so `$` and `\\b` at a run's end see what follows it.
        reach = _reach(parsed.data, sre) + 2
        # A run starts with a character a match can start with: the scan then stops only there
        # (at digits, say), not at every space.
        runs = re.compile(f"[{''.join(dict.fromkeys(first))}][{''.join(dict.fromkeys(alphabet))}]{{{min_width - 1},}}")
    except Exception:
        runs, reach = None, 0
    if runs is not None and runs.search("etaoinshrdlu"):
        runs = None  # letters in the alphabet: runs are words, and words are everywhere
    return required, runs, reach


def compile_rule(*, name: str, pattern: str, replacement: str) -> CompiledRule:
    """Compile one rule; re.error when the pattern is not a regular expression."""
    regex = re.compile(pattern)
    required, runs, reach = _analyse(pattern)
    return CompiledRule(name, regex, replacement, replacement.replace("\\", "\\\\"), required, runs, reach)


def _subn_in_runs(rule: CompiledRule, text: str) -> tuple[str, int]:
    """re.subn, searching only the runs a match can lie in.

    A match consumes only characters of the run's class, so it starts and ends inside one run. The
    search in a run may look `reach` characters past it (for lookaheads and anchors) and sees
    everything before it (lookbehinds); a match it finds past the run belongs to a later run.
    Runs are taken left to right and the search resumes after each match, as re.subn does.
    """
    pieces: list[str] = []
    last = count = 0
    search = rule.regex.search
    for run in rule.runs.finditer(text):
        position, run_end = max(run.start(), last), run.end()
        limit = run_end + rule.reach
        while position < run_end:
            found = search(text, position, limit)
            if found is None or found.start() >= run_end:
                break
            pieces.append(text[last : found.start()])
            pieces.append(rule.replacement)
            last = position = found.end()
            count += 1
    if not count:
        return text, 0
    pieces.append(text[last:])
    return "".join(pieces), count


def redaction_rules_compiled() -> list[CompiledRule]:
    """The active rules in their order, compiled. One query; call once per request, not per record."""
    compiled = []
    for rule in RedactionRule.objects.filter(is_active=True).order_by("position", "pk"):
        try:
            compiled.append(compile_rule(name=rule.name, pattern=rule.pattern, replacement=rule.replacement))
        except re.error as exc:
            raise RedactionRuleError(
                f"The redaction rule '{rule.name}' is not a valid regular expression ({exc}); "
                "nothing was stored. Fix or switch off the rule in the admin."
            ) from exc
    return compiled


class Redactor:
    """Runs the rules over texts in order, counting replacements per rule.

    Texts repeat within a request (the user saw the model's output unchanged; the same documents
    are retrieved for many requests), so each distinct text is redacted once.
    """

    def __init__(self, rules: list[CompiledRule]):
        self.rules = rules
        self._seen: dict[str, tuple[str, tuple[tuple[str, int], ...]]] = {}

    def redact(self, text: str, counts: dict[str, int]) -> str:
        if not text or not self.rules:
            return text
        known = self._seen.get(text)
        if known is None:
            out, hits = text, []
            for rule in self.rules:
                if rule.required and not all(char in out for char in rule.required):
                    continue
                if rule.runs is not None:
                    out, n = _subn_in_runs(rule, out)
                else:
                    out, n = rule.regex.subn(rule.template, out)
                if n:
                    hits.append((rule.name, n))
            known = (out, tuple(hits))
            if len(self._seen) < 20_000:
                self._seen[text] = known
        for name, n in known[1]:
            counts[name] = counts.get(name, 0) + n
        return known[0]


def redact_text(text: str, rules: list[CompiledRule]) -> tuple[str, dict[str, int]]:
    """Redact one text (the admin's "try it"); returns the text and {rule name: replacements}."""
    counts: dict[str, int] = {}
    return Redactor(rules).redact(text, counts), counts


# --- rules as data ------------------------------------------------------------------------------


def redaction_pattern_problem(pattern: str) -> str | None:
    """Why a pattern cannot be a redaction rule, or None. The admin form and the services both ask."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        return f"Not a valid regular expression: {exc}."
    if regex.search("") is not None:
        return "It matches empty text, so it would insert the replacement between every character."
    return None


RULE_FIELDS = ("name", "pattern", "replacement", "is_active", "position")


def _rule_values_check(values: dict) -> None:
    if "pattern" in values:
        problem = redaction_pattern_problem(values["pattern"])
        if problem:
            raise ValidationError({"pattern": problem})
    if "replacement" in values and "\x00" in values["replacement"]:
        raise ValidationError({"replacement": "Null characters are not allowed."})


@transaction.atomic
def redaction_rule_create(*, values: dict, actor) -> RedactionRule:
    """A new rule; it applies to records received from now on (stored records are not rewritten)."""
    if not actor.has_perm("audit.add_redactionrule"):
        raise PermissionDenied("You may not add redaction rules.")
    values = {k: v for k, v in values.items() if k in RULE_FIELDS}
    _rule_values_check(values)
    rule = RedactionRule(**values)
    rule.full_clean()
    rule.save()
    audit.log_created(actor=actor, target=rule, values=audit.snapshot(rule, RULE_FIELDS))
    return rule


@transaction.atomic
def redaction_rule_update(*, rule_id: int, changes: dict, actor) -> RedactionRule:
    """Change a rule (switching it off included). Logged, since it decides what personal data is kept."""
    if not actor.has_perm("audit.change_redactionrule"):
        raise PermissionDenied("You may not change redaction rules.")
    rule = RedactionRule.objects.select_for_update().get(pk=rule_id)
    changes = {k: v for k, v in changes.items() if k in RULE_FIELDS}
    _rule_values_check(changes)
    before = audit.snapshot(rule, RULE_FIELDS)
    for name, value in changes.items():
        setattr(rule, name, value)
    rule.full_clean()
    after = audit.snapshot(rule, RULE_FIELDS)
    if after != before:
        rule.save()
        audit.log_changed(actor=actor, target=rule, before=before, after=after)
    return rule
