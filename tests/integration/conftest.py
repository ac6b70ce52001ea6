"""A real Redis, a real Celery worker subprocess and an SMTP sink: see tests/integration/fixtures.py."""

from tests.integration.fixtures import publisher, redis_server, smtp_sink, start_worker

__all__ = ["publisher", "redis_server", "smtp_sink", "start_worker"]
