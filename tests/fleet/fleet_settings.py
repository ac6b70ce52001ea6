"""Fireline's production settings with the outbox sweep every FLEET_SWEEP_SECONDS (2) instead of every minute.

The fleet tests kill workers and restart brokers and wait for the sweep to re-queue what was lost; at
the production interval each test would wait minutes. Nothing else differs from config/settings.py.
"""

import os

from config.settings import *  # noqa: F403
from config.settings import CELERY_BEAT_SCHEDULE

SWEEP_SECONDS = float(os.environ.get("FLEET_SWEEP_SECONDS", "2"))
CELERY_BEAT_SCHEDULE = {
    **CELERY_BEAT_SCHEDULE,
    "sweep-outbox": {"task": "incidents.tasks.sweep_outbox", "schedule": SWEEP_SECONDS},
}
