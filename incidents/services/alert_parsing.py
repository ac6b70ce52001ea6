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
from typing import Annotated, Any, Literal

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

from config import json_input
from config.json_input import error_at, flatten, unstorable
from incidents.models import AlertIntegration

# Alertmanager sends this for "not ended yet".
ZERO_TIME_PREFIX = "0001-01-01"
# Alerts in one payload; Alertmanager batches far fewer, and the body is limited to 1 MiB anyway.
MAX_ALERTS = 10_000


class AlertParseError(Exception):
    """Bad input; `errors` is structured for the API, str() reads well in the admin: alerts[0].labels: ..."""

    def __init__(self, errors: dict):
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in flatten(errors)))


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


def _errors(exc: ValidationError, prefix: tuple = ()) -> dict:
    """pydantic's flat error list as nested fields: {"alerts": {"0": {"labels": ["..."]}}}."""
    tree: dict = {}
    for error in exc.errors(include_url=False):
        loc = [*prefix, *(str(part) for part in error["loc"])] or ["body"]
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


def _utc(value: datetime | None) -> datetime | None:
    """The moment in UTC (no zone means UTC).

    Converting here, not in the database, is what keeps an odd offset from failing the payload later:
    PostgreSQL refuses offsets past ±15:59 that Python reads, and 9999-12-31T23:00-05:00 is past the
    last moment either can hold.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("Out of range: in UTC it falls outside the years 0001 to 9999.") from None


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
    AfterValidator(_utc),
    WithJsonSchema({"type": "string", "format": "date-time", "nullable": True}),
]
Status = Literal["firing", "resolved"]


class AlertmanagerAlert(BaseModel):
    status: Status
    labels: Annotated[StringMap, AfterValidator(_has_labels), Field(json_schema_extra={"minProperties": 1})]
    annotations: StringMap = Field(default_factory=dict)
    startsAt: Moment = None  # noqa: N815 - the monitor's field names
    endsAt: Moment = None  # noqa: N815
    generatorURL: Text(1000) = ""  # noqa: N815
    fingerprint: Text(200) = ""


class AlertmanagerPayload(BaseModel):
    """Prometheus Alertmanager's webhook, version 4."""

    version: Annotated[str, AfterValidator(_version_4), Field(json_schema_extra={"enum": ["", "4"]})] = ""
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


@dataclass
class ParsedPayload:
    """The alerts that can be routed, and those of the batch that were refused: {index: field errors}."""

    alerts: list[ParsedAlert]
    refused: dict[int, dict] = field(default_factory=dict)


# The envelopes as read: each alert is then read on its own, so one bad alert refuses only itself.
class _AlertmanagerEnvelope(AlertmanagerPayload):
    alerts: Annotated[list[Any], Field(min_length=1, max_length=MAX_ALERTS)]


class _GrafanaEnvelope(GrafanaPayload):
    alerts: Annotated[list[Any], Field(min_length=1, max_length=MAX_ALERTS)]


class _GenericEnvelope(BaseModel):
    alerts: Annotated[list[Any], Field(min_length=1, max_length=MAX_ALERTS)]


def _read(model: type[BaseModel], data, path: tuple = (), check_text: bool = True):
    """(the model, {}) or (None, field errors at `path`); text that cannot be stored is refused first."""
    found = unstorable(data, path) if check_text else None
    if found:
        return None, error_at(*found)
    try:
        return model.model_validate(data), {}
    except ValidationError as exc:
        return None, _errors(exc, path)


def _alertmanager_like(envelope: AlertmanagerPayload, item: AlertmanagerAlert) -> ParsedAlert:
    labels = {**envelope.commonLabels, **item.labels}
    return ParsedAlert(
        status=item.status,
        fingerprint=item.fingerprint or _fingerprint(labels),
        labels=labels,
        annotations={**envelope.commonAnnotations, **item.annotations},
        group_key=envelope.groupKey,
        starts_at=item.startsAt,
        ends_at=item.endsAt,
        generator_url=item.generatorURL,
    )


def _generic(_envelope, item: GenericAlert) -> ParsedAlert:
    labels = {"alertname": item.name, **item.labels}
    annotations = dict(item.annotations)
    if item.summary:
        annotations.setdefault("summary", item.summary)
    return ParsedAlert(
        status=item.status,
        fingerprint=item.fingerprint or _fingerprint(labels),
        labels=labels,
        annotations=annotations,
        group_key=item.group,
        starts_at=item.started_at,
        generator_url=item.url,
    )


READERS = {
    AlertIntegration.ALERTMANAGER: (_AlertmanagerEnvelope, AlertmanagerAlert, _alertmanager_like),
    AlertIntegration.GRAFANA: (_GrafanaEnvelope, AlertmanagerAlert, _alertmanager_like),
    AlertIntegration.GENERIC: (_GenericEnvelope, GenericAlert, _generic),
}


def parse_payload(integration: str, body: str, content_type: str) -> ParsedPayload:
    """The payload's alerts, each read on its own.

    What is wrong with the payload as a whole (not JSON, a bad envelope field) refuses all of it, and so
    does a batch in which no alert can be read: AlertParseError. Otherwise the alerts that can be read
    are routed, and the others are reported by index with their field errors.
    """
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise AlertParseError({"content_type": [f"Send application/json, not {content_type or 'nothing'!r}."]})
    try:
        data = json_input.loads(body, check_text=False)
    except json_input.JSONInputError as exc:
        raise AlertParseError(exc.errors) from exc
    if not isinstance(data, dict):
        raise AlertParseError({"body": ["Expected a JSON object."]})
    envelope_model, alert_model, convert = READERS[AlertIntegration(integration)]
    if envelope_model is _GenericEnvelope and "alerts" not in data:
        data = {"alerts": [data]}  # generic: one alert object, or {"alerts": [...]}
    # JSON carries NUL or a lone surrogate only as an escape: most payloads need no walk for them.
    check_text = json_input.may_hold_unstorable(body)
    items = data.get("alerts")
    if isinstance(items, list):
        # The envelope is read with placeholders for its alerts (their number still counts).
        envelope, errors = _read(envelope_model, {**data, "alerts": [None] * len(items)}, check_text=check_text)
    else:
        envelope, errors = _read(envelope_model, data, check_text=check_text)
        items = []
    alerts, refused = [], {}
    for index, item in enumerate(items[:MAX_ALERTS]):
        alert, alert_errors = _read(alert_model, item, ("alerts", str(index)), check_text)
        if alert is None:
            refused[index] = alert_errors["alerts"][str(index)]
        elif envelope is not None:
            alerts.append(convert(envelope, alert))
    if envelope is None or not alerts:
        if refused and isinstance(errors.setdefault("alerts", {}), dict):
            errors["alerts"].update({str(i): e for i, e in refused.items()})
        raise AlertParseError(errors)
    return ParsedPayload(alerts=alerts, refused=refused)


def clamp_past(moment: datetime | None) -> datetime | None:
    """A monitor's clock may run ahead; a start in the future becomes now."""
    if moment is None:
        return None
    return min(moment, timezone.now())
