"""Turn what a monitor sent into alerts Fireline can route: Alertmanager v4, Grafana, generic JSON.

The payload shapes are pydantic models: they validate fast enough for an alert storm, and the same
models document the endpoints in the OpenAPI schema. A bad payload is answered with the field and the
reason, as `{"alerts": {"0": {"labels": ["..."]}}}` (and read in the admin as `alerts[0].labels: ...`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Literal

from django.utils import timezone
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
)

from incidents.models import AlertIntegration

# Alertmanager sends this for "not ended yet".
ZERO_TIME_PREFIX = "0001-01-01"


class AlertParseError(Exception):
    """Bad input; `errors` is structured for the API, str() reads well in the admin: alerts[0].labels: ..."""

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in _flatten(errors)))


def _flatten(errors, prefix=""):
    if isinstance(errors, dict):
        for key, value in errors.items():
            path = f"{prefix}[{key}]" if str(key).isdigit() else (f"{prefix}.{key}" if prefix else str(key))
            yield from _flatten(value, path)
    elif isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        yield prefix or "body", " ".join(str(e) for e in errors)
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            if value:
                yield from _flatten(value, f"{prefix}[{index}]")
    else:
        yield prefix or "body", str(errors)


# pydantic's words for what went wrong, in the words the rest of Fireline's API uses.
MESSAGES = {
    "missing": "This field is required.",
    "string_type": "Must be a string.",
    "dict_type": "Must be an object.",
    "list_type": "Must be a list.",
    "int_type": "Must be an integer.",
    "int_parsing": "Must be an integer.",
    "too_short": "Must not be empty.",
}


def _message(error: dict) -> str:
    if error["type"] == "string_too_long":
        return f"At most {error['ctx']['max_length']} characters."
    if error["type"] == "literal_error":
        return f"Must be one of {error['ctx']['expected']}."
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    if error["type"].startswith("datetime"):
        return "Must be an ISO 8601 date and time, e.g. 2026-11-29T22:00:00Z."
    return MESSAGES.get(error["type"], error["msg"])


def _errors(exc: ValidationError) -> dict:
    """pydantic's flat error list as nested fields: {"alerts": {"0": {"labels": ["..."]}}}."""
    tree: dict = {}
    for error in exc.errors(include_url=False):
        loc = [str(part) for part in error["loc"]] or ["body"]
        node = tree
        for part in loc[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        leaf = node.setdefault(loc[-1], [])
        if isinstance(leaf, list):
            leaf.append(_message(error))
    return tree


def _zero_time_is_none(value):
    return None if isinstance(value, str) and value.startswith(ZERO_TIME_PREFIX) else value


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _has_labels(value: dict) -> dict:
    if not value:
        raise ValueError("An alert needs at least one label.")
    return value


def _version_4(value: str) -> str:
    if value and value != "4":
        raise ValueError(f'Alertmanager webhook version "4" is supported, not "{value}".')
    return value


def Text(max_length: int):  # noqa: N802 - a type, read as one
    return Annotated[str, StringConstraints(max_length=max_length)]


StringMap = dict[str, Text(10000)]
# OpenAPI 3.0 spells "or null" as nullable, not as JSON Schema's anyOf with a null type.
Moment = Annotated[
    datetime | None,
    BeforeValidator(_zero_time_is_none),
    AfterValidator(_aware),
    WithJsonSchema({"type": "string", "format": "date-time", "nullable": True}),
]
Status = Literal["firing", "resolved"]


class AlertmanagerAlert(BaseModel):
    status: Status
    labels: Annotated[StringMap, AfterValidator(_has_labels)]
    annotations: StringMap = Field(default_factory=dict)
    startsAt: Moment = None  # noqa: N815 - the monitor's field names
    endsAt: Moment = None  # noqa: N815
    generatorURL: Text(1000) = ""  # noqa: N815
    fingerprint: Text(200) = ""


class AlertmanagerPayload(BaseModel):
    """Prometheus Alertmanager's webhook, version 4."""

    version: Annotated[str, AfterValidator(_version_4)] = ""
    status: Status = "firing"
    receiver: str = ""
    groupKey: Text(500) = ""  # noqa: N815
    groupLabels: StringMap = Field(default_factory=dict)  # noqa: N815
    commonLabels: StringMap = Field(default_factory=dict)  # noqa: N815
    commonAnnotations: StringMap = Field(default_factory=dict)  # noqa: N815
    externalURL: str = ""  # noqa: N815
    truncatedAlerts: Annotated[int, Field(ge=0)] = 0  # noqa: N815
    alerts: Annotated[list[AlertmanagerAlert], Field(min_length=1)]


class GrafanaPayload(AlertmanagerPayload):
    """Grafana Alerting's webhook contact point: Alertmanager's shape with Grafana's own version and fields."""

    version: str = ""
    orgId: int = 0  # noqa: N815
    title: str = ""
    state: str = ""
    message: str = ""


class GenericAlert(BaseModel):
    name: Text(300)
    status: Status = "firing"
    labels: StringMap = Field(default_factory=dict)
    annotations: StringMap = Field(default_factory=dict)
    summary: Text(2000) = ""
    fingerprint: Text(200) = ""
    group: Text(500) = ""
    started_at: Moment = None
    url: Text(1000) = ""


class GenericPayload(BaseModel):
    alerts: Annotated[list[GenericAlert], Field(min_length=1)]


@dataclass
class ParsedAlert:
    status: str
    fingerprint: str
    labels: dict
    annotations: dict = field(default_factory=dict)
    group_key: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str = ""

    @property
    def name(self) -> str:
        return str(self.labels.get("alertname") or self.annotations.get("summary") or self.fingerprint)[:300]

    @property
    def summary(self) -> str:
        return str(self.annotations.get("summary") or self.annotations.get("description") or self.name)


def _fingerprint(labels: dict) -> str:
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _validated(model: type[BaseModel], data):
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AlertParseError(_errors(exc)) from exc


def _alertmanager_like(data: AlertmanagerPayload) -> list[ParsedAlert]:
    alerts = []
    for item in data.alerts:
        labels = {**data.commonLabels, **item.labels}
        alerts.append(
            ParsedAlert(
                status=item.status,
                fingerprint=item.fingerprint or _fingerprint(labels),
                labels=labels,
                annotations={**data.commonAnnotations, **item.annotations},
                group_key=data.groupKey,
                starts_at=item.startsAt,
                ends_at=item.endsAt,
                generator_url=item.generatorURL,
            )
        )
    return alerts


def parse_payload(integration: str, body: str, content_type: str) -> list[ParsedAlert]:
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise AlertParseError({"content_type": [f"Send application/json, not {content_type or 'nothing'!r}."]})
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise AlertParseError(
            {"body": [f"Not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."]}
        ) from exc
    if not isinstance(data, dict):
        raise AlertParseError({"body": ["Expected a JSON object."]})
    # JSON can only carry a NUL or a lone UTF-16 surrogate as an escape (\u0000, \ud800): look for one in
    # the text before walking the data. Neither can be stored (PostgreSQL text and UTF-8 refuse them).
    if "\\u0000" in body or "\\ud" in body or "\\uD" in body:
        problem = _unstorable(data)
        if problem:
            raise AlertParseError(problem)
    if integration == AlertIntegration.ALERTMANAGER:
        return _alertmanager_like(_validated(AlertmanagerPayload, data))
    if integration == AlertIntegration.GRAFANA:
        return _alertmanager_like(_validated(GrafanaPayload, data))
    # generic: one alert object, or {"alerts": [...]}
    items = _validated(GenericPayload, data if "alerts" in data else {"alerts": [data]}).alerts
    alerts = []
    for item in items:
        labels = {"alertname": item.name, **item.labels}
        annotations = dict(item.annotations)
        if item.summary:
            annotations.setdefault("summary", item.summary)
        alerts.append(
            ParsedAlert(
                status=item.status,
                fingerprint=item.fingerprint or _fingerprint(labels),
                labels=labels,
                annotations=annotations,
                group_key=item.group,
                starts_at=item.started_at,
                generator_url=item.url,
            )
        )
    return alerts


NUL = "contains the NUL character (\\u0000), which cannot be stored."
SURROGATE = "contains a lone UTF-16 surrogate (\\ud800 to \\udfff), which is not valid Unicode."


def _why_unstorable(text: str) -> str:
    if "\x00" in text:
        return NUL
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return SURROGATE
    return ""


def _unstorable(value, path: tuple = ()) -> dict:
    """Where in the data a string (a name or a value) cannot be stored, as nested field errors; {} if nowhere."""
    if isinstance(value, str):
        reason = _why_unstorable(value)
        return _at(path, f"The text {reason}") if reason else {}
    if isinstance(value, dict):
        for key, item in value.items():
            reason = _why_unstorable(key)
            if reason:
                return _at(path, f"A name {reason}")
            found = _unstorable(item, (*path, key))
            if found:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable(item, (*path, str(index)))
            if found:
                return found
    return {}


def _at(path: tuple, message: str) -> dict:
    """{"alerts": {"0": {"labels": [message]}}} for the path ("alerts", "0", "labels")."""
    errors: dict | list = [message]
    for part in reversed(path or ("body",)):
        errors = {part: errors}
    return errors


def clamp_past(moment: datetime | None) -> datetime | None:
    """A monitor's clock may run ahead; a start in the future becomes now."""
    if moment is None:
        return None
    return min(moment, timezone.now())
