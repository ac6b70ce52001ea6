"""The benchmarks use the integration tests' real services: see tests/integration/fixtures.py."""

from pathlib import Path

from tests.integration.fixtures import publisher, redis_server, smtp_sink, start_worker

__all__ = ["publisher", "redis_server", "smtp_sink", "start_worker"]

HERE = Path(__file__).resolve().parent


def _flushes_seeded_data(item) -> bool:
    """A transactional test without serialized_rollback: it ends with a flush that leaves the seeded rows
    (groups, triage matrix, escalation policies) gone and re-created content types behind, and a
    serialized_rollback test after it fails to reload the seed ("duplicate key ... django_content_type")."""
    marker = item.get_closest_marker("django_db")
    fixtures = getattr(item, "fixturenames", ())
    transactional = bool(marker and marker.kwargs.get("transaction")) or bool(
        {"transactional_db", "live_server"} & set(fixtures)
    )
    serialized = bool(marker and marker.kwargs.get("serialized_rollback"))
    return transactional and not serialized


def pytest_collection_modifyitems(items):
    """Within tests/perf, run the benchmarks that keep the seeded data before those that flush it.

    Runs after pytest-django's own ordering (which is tryfirst) and only swaps tests/perf items among
    the positions they already hold.
    """
    positions = [n for n, item in enumerate(items) if HERE in Path(item.path).resolve().parents]
    ordered = sorted((items[n] for n in positions), key=_flushes_seeded_data)
    for n, item in zip(positions, ordered, strict=True):
        items[n] = item
