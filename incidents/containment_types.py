"""The containment types: what a commander can do to stop the harm, each declared once.

One `Kind` per type says everything Fireline knows about it: its stored value and label, the short name
the incident page uses, the parameters a person gives (each with its form field and its check), whether
it holds the feature's kill switch, and on which severities one click records it. The model's choices,
the admin form, the incident page, the services, the kill-switch warnings and the API read this module;
nothing else names a type. To add a type, declare it in BUILT_IN below (see the README).

This module sits at the bottom of the app: it imports Django only, so models and constants can read it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django import forms
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.choices import BaseChoiceIterator

# The kill-switch holds a type can take (the values of incidents.models.flags.HoldKind).
HOLD_OFF = "off"
HOLD_COHORT = "cohort"


@dataclass(frozen=True)
class Parameter:
    """One value a person gives when recording the type: stored in the action's `parameters` under `name`."""

    name: str
    help_text: str
    max_length: int = 200
    format: str = ""  # how the value is written, when it has a shape ("attribute=value")
    # Called with the stripped, non-empty text; raises ValidationError with the message to show.
    check: Callable[[str], None] | None = None

    def form_field(self) -> forms.Field:
        return forms.CharField(required=False, max_length=self.max_length, help_text=self.help_text)


@dataclass(frozen=True)
class Kind:
    value: str  # stored in ContainmentAction.action_type: never change it once recorded
    label: str  # what the ledger, the timeline, the API's choices and the PDFs say
    short: str  # the lower-case name in running text ("Triage matrix default: feature flag off + ...")
    parameters: tuple[Parameter, ...] = ()
    # The API's help names the parameters by this; the short name when empty.
    api_name: str = ""
    # HOLD_OFF turns the feature off, HOLD_COHORT restricts the cohort named by `cohort_parameter`;
    # one hold per action, lifted with it (see services.containment and services.flags).
    holds_switch: str = ""
    cohort_parameter: str = ""
    # One click ("Contain now") records the type on these severities when the triage matrix defaults
    # to it; a type with parameters needs `one_click_parameters` to fill them in without a person.
    one_click_severities: frozenset[str] = frozenset()
    one_click_parameters: Callable[[object], dict] | None = None

    @property
    def parameter_names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def turns_feature_off(self) -> bool:
        return self.holds_switch == HOLD_OFF

    def is_one_click_for(self, severity: str) -> bool:
        return severity in self.one_click_severities

    def clean_parameters(self, parameters: dict | None) -> dict:
        """The parameters as stored: stripped, all required, each checked; errors name the field."""
        given = {k: str(v).strip() for k, v in (parameters or {}).items() if str(v).strip()}
        errors = {}
        unknown = sorted(set(given) - set(self.parameter_names))
        if unknown:
            errors["parameters"] = f"{self.label} takes no {', '.join(unknown)}."
        for parameter in self.parameters:
            text = given.get(parameter.name)
            if not text:
                errors[parameter.name] = f"Required for {self.label.lower()}."
            elif parameter.check is not None:
                try:
                    parameter.check(text)
                except ValidationError as exc:
                    errors[parameter.name] = exc.messages
        if errors:
            raise ValidationError(errors)
        return {name: given[name] for name in self.parameter_names}

    def _check_declaration(self) -> None:
        if self.holds_switch not in ("", HOLD_OFF, HOLD_COHORT):
            raise ValueError(f"{self.value}: holds_switch is {HOLD_OFF!r}, {HOLD_COHORT!r} or empty.")
        if self.holds_switch == HOLD_COHORT and self.cohort_parameter not in self.parameter_names:
            raise ValueError(f"{self.value}: a cohort hold names the parameter that holds the cohort.")
        if self.one_click_severities and self.parameters and self.one_click_parameters is None:
            raise ValueError(f"{self.value}: one click cannot ask a person for parameters.")


def _fallback_for_one_click(incident) -> dict:
    return {"fallback": (incident.feature.fallback_description or "the documented fallback")[:200]}


SEV1_AND_SEV2 = frozenset({"SEV1", "SEV2"})

BUILT_IN = (
    Kind(
        value="feature_flag_off",
        label="Feature flag off (kill switch)",
        short="feature flag off",
        holds_switch=HOLD_OFF,
        one_click_severities=SEV1_AND_SEV2,
    ),
    Kind(
        value="rollback",
        label="Roll back prompt/model version",
        short="roll back",
        api_name="rollback",
        parameters=(
            Parameter("from_version", "Rollback: the bad version", max_length=120),
            Parameter("to_version", "Rollback: the version restored", max_length=120),
        ),
    ),
    Kind(
        value="fallback",
        label="Switch to fallback",
        short="switch to fallback",
        api_name="fallback",
        parameters=(Parameter("fallback", "Fallback: what users get now"),),
        one_click_severities=SEV1_AND_SEV2,
        one_click_parameters=_fallback_for_one_click,
    ),
    Kind(
        value="restrict_cohort",
        label="Restrict the affected cohort",
        short="restrict cohort",
        parameters=(Parameter("cohort", "Cohort: who loses the feature, e.g. plan=free", format="attribute=value"),),
        holds_switch=HOLD_COHORT,
        cohort_parameter="cohort",
    ),
    Kind(
        value="stricter_moderation",
        label="Stricter moderation for the pattern",
        short="stricter moderation",
        parameters=(Parameter("pattern", "Moderation: the pattern blocked", max_length=300),),
    ),
)

_registry: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add a type. Its value must be new; a parameter name it shares with another type must mean the
    same field (the admin form has one input per name)."""
    kind._check_declaration()
    if kind.value in _registry:
        raise ValueError(f"Containment type {kind.value!r} is already registered.")
    if len(kind.value) > 32:
        raise ValueError(f"{kind.value!r}: a containment type's value fits in 32 characters.")
    for other in _registry.values():
        for mine in kind.parameters:
            for theirs in other.parameters:
                if mine.name == theirs.name and mine != theirs:
                    raise ValueError(f"Parameter {mine.name!r} is declared differently by {other.value!r}.")
    _registry[kind.value] = kind
    return kind


def unregister(value: str) -> None:
    """Remove a type (a test's own); built-in types stay."""
    if value in {kind.value for kind in BUILT_IN}:
        raise ValueError(f"{value!r} is built in: it stays registered.")
    _registry.pop(value, None)


for _kind in BUILT_IN:
    register(_kind)


def kinds() -> list[Kind]:
    """Every registered type, in declaration order."""
    return list(_registry.values())


def get(value: str) -> Kind | None:
    return _registry.get(value)


def label(value: str) -> str:
    """The type's label; an unknown value (a type since removed) shows as stored."""
    kind = _registry.get(value)
    return kind.label if kind else value


def short(value: str) -> str:
    kind = _registry.get(value)
    return kind.short if kind else value


def all_parameters() -> list[Parameter]:
    """Each parameter name once, in declaration order: the admin form's inputs."""
    seen = {}
    for kind in _registry.values():
        for parameter in kind.parameters:
            seen.setdefault(parameter.name, parameter)
    return list(seen.values())


def switch_holding_values() -> list[str]:
    """The types that hold a kill switch."""
    return [kind.value for kind in _registry.values() if kind.holds_switch]


def one_click_severities() -> list[str]:
    """Every severity on which some type is recorded by one click, in order."""
    return sorted({severity for kind in _registry.values() for severity in kind.one_click_severities})


def api_parameters_help() -> str:
    """The API's help for `parameters`: which names each type takes."""
    parts = []
    for kind in _registry.values():
        if kind.parameters:
            names = ", ".join(f"{p.name} ({p.format})" if p.format else p.name for p in kind.parameters)
            parts.append(f"{kind.api_name or kind.short}: {names}")
    text = "; ".join(parts) + "."
    return text[:1].upper() + text[1:]


class Choices(BaseChoiceIterator):
    """(value, label) of every registered type, read when iterated: a model field's or a form's choices.

    Lazy so that a type registered later (a test's) is a valid choice with its label. It compares equal to
    the list of the same pairs, so migrations see the same choices as a plain list would give.
    """

    def __iter__(self) -> Iterator[tuple[str, str]]:
        yield from ((kind.value, kind.label) for kind in _registry.values())


choices = Choices()

# Named constants for the built-in types (ContainmentType.FEATURE_FLAG_OFF == "feature_flag_off"), kept for
# the code and tests that name one type; generated from BUILT_IN, never written by hand.
ContainmentType = models.TextChoices(
    "ContainmentType", [(kind.value.upper(), (kind.value, kind.label)) for kind in BUILT_IN]
)
