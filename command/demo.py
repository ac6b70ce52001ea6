"""Demo quality monitors for seed_demo: one per signal per demo feature, with everyday thresholds.

Thresholds are data that each team tunes in the admin; these only show the monitors working.
"""

from .models import MonitorSignal, QualityMonitor

DEMO_THRESHOLDS = {
    MonitorSignal.REFUSAL_RATE: 0.10,  # one request in ten refused
    MonitorSignal.ERROR_RATE: 0.05,
    MonitorSignal.COST_PER_REQUEST: 0.05,
    MonitorSignal.LATENCY_P95: 8000.0,  # ms
}


def seed_demo_monitors(*, features) -> int:
    """Idempotent: a monitor that exists (perhaps tuned by someone) is left as it is."""
    created = 0
    for feature in features:
        for signal, threshold in DEMO_THRESHOLDS.items():
            _, was_created = QualityMonitor.objects.get_or_create(
                feature=feature,
                signal=signal,
                defaults={"threshold": threshold, "window_minutes": 15, "min_sample_size": 50},
            )
            created += was_created
    return created
