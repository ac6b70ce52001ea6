"""Turn what a monitor sent into alerts Fireline can route: Alertmanager v4, Grafana, generic JSON.

Validation uses DRF serializers, so a bad payload is answered with the field and the reason.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone
from rest_framework import serializers

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


class StringMap(serializers.DictField):
    """Labels and annotations: a flat object of strings."""

    child = serializers.CharField(allow_blank=True, max_length=10000)


class LooseDateTime(serializers.DateTimeField):
    def to_internal_value(self, value):
        if isinstance(value, str) and value.startswith(ZERO_TIME_PREFIX):
            return None
        return super().to_internal_value(value)


class AlertmanagerAlertSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["firing", "resolved"])
    labels = StringMap()
    annotations = StringMap(required=False, default=dict)
    startsAt = LooseDateTime(required=False, allow_null=True)  # noqa: N815 - the monitor's field names
    endsAt = LooseDateTime(required=False, allow_null=True)  # noqa: N815
    generatorURL = serializers.CharField(required=False, allow_blank=True, max_length=1000)  # noqa: N815
    fingerprint = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate_labels(self, value):
        if not value:
            raise serializers.ValidationError("An alert needs at least one label.")
        return value


class AlertmanagerSerializer(serializers.Serializer):
    version = serializers.CharField(required=False)
    status = serializers.ChoiceField(choices=["firing", "resolved"], required=False)
    receiver = serializers.CharField(required=False, allow_blank=True)
    groupKey = serializers.CharField(required=False, allow_blank=True, max_length=500)  # noqa: N815
    groupLabels = StringMap(required=False)  # noqa: N815
    commonLabels = StringMap(required=False)  # noqa: N815
    commonAnnotations = StringMap(required=False)  # noqa: N815
    externalURL = serializers.CharField(required=False, allow_blank=True)  # noqa: N815
    truncatedAlerts = serializers.IntegerField(required=False, min_value=0)  # noqa: N815
    alerts = AlertmanagerAlertSerializer(many=True, allow_empty=False)

    def validate_version(self, value):
        if value != "4":
            raise serializers.ValidationError(f'Alertmanager webhook version "4" is supported, not "{value}".')
        return value


class GrafanaSerializer(AlertmanagerSerializer):
    orgId = serializers.IntegerField(required=False)  # noqa: N815
    title = serializers.CharField(required=False, allow_blank=True)
    state = serializers.CharField(required=False, allow_blank=True)
    message = serializers.CharField(required=False, allow_blank=True)

    def validate_version(self, value):
        return value  # Grafana sends its own version ("1")


class GenericAlertSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=300)
    status = serializers.ChoiceField(choices=["firing", "resolved"], default="firing")
    labels = StringMap(required=False, default=dict)
    annotations = StringMap(required=False, default=dict)
    summary = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    fingerprint = serializers.CharField(required=False, allow_blank=True, max_length=200)
    group = serializers.CharField(required=False, allow_blank=True, max_length=500)
    started_at = serializers.DateTimeField(required=False, allow_null=True)
    url = serializers.CharField(required=False, allow_blank=True, max_length=1000)


class GenericSerializer(serializers.Serializer):
    alerts = GenericAlertSerializer(many=True, allow_empty=False)


def _fingerprint(labels: dict) -> str:
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    if not serializer.is_valid():
        raise AlertParseError(serializer.errors)
    return serializer.validated_data


def _alertmanager_like(data: dict) -> list[ParsedAlert]:
    group_key = data.get("groupKey", "")
    common = data.get("commonLabels") or {}
    alerts = []
    for item in data["alerts"]:
        labels = {**common, **item["labels"]}
        alerts.append(
            ParsedAlert(
                status=item["status"],
                fingerprint=item.get("fingerprint") or _fingerprint(labels),
                labels=labels,
                annotations={**(data.get("commonAnnotations") or {}), **item.get("annotations", {})},
                group_key=group_key,
                starts_at=item.get("startsAt"),
                ends_at=item.get("endsAt"),
                generator_url=item.get("generatorURL", ""),
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
    if _has_nul(data):
        raise AlertParseError({"body": ["A string contains the NUL character (\\u0000), which cannot be stored."]})
    if integration == AlertIntegration.ALERTMANAGER:
        return _alertmanager_like(_validated(AlertmanagerSerializer, data))
    if integration == AlertIntegration.GRAFANA:
        return _alertmanager_like(_validated(GrafanaSerializer, data))
    # generic: one alert object, or {"alerts": [...]}
    items = _validated(GenericSerializer, data if "alerts" in data else {"alerts": [data]})["alerts"]
    alerts = []
    for item in items:
        labels = {"alertname": item["name"], **item["labels"]}
        annotations = dict(item["annotations"])
        if item.get("summary"):
            annotations.setdefault("summary", item["summary"])
        alerts.append(
            ParsedAlert(
                status=item["status"],
                fingerprint=item.get("fingerprint") or _fingerprint(labels),
                labels=labels,
                annotations=annotations,
                group_key=item.get("group", ""),
                starts_at=item.get("started_at"),
                generator_url=item.get("url", ""),
            )
        )
    return alerts


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def clamp_past(moment: datetime | None) -> datetime | None:
    """A monitor's clock may run ahead; a start in the future becomes now."""
    if moment is None:
        return None
    return min(moment, timezone.now())
