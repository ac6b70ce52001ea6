"""Factories of the command app's models: quality monitors. Audit records come from tests/audit/factories.py."""

from command.models import QualityMonitor


def monitor(feature, signal="refusal_rate", threshold=0.1, **kwargs):
    kwargs.setdefault("window_minutes", 15)
    kwargs.setdefault("min_sample_size", 10)
    return QualityMonitor.objects.create(feature=feature, signal=signal, threshold=threshold, **kwargs)
