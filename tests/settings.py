"""Test settings: Fireline's settings with what only a test run needs on top."""

import tempfile
from pathlib import Path

from config.settings import *  # noqa: F403

# Checkpoints of the action log describe one database: a test run's go to a directory of its own, never
# to var/, where the next run (a fresh test database) would read them as a log cut back.
FIRELINE_AUDIT_CHECKPOINT_DIR = Path(tempfile.mkdtemp(prefix="fireline-test-checkpoints-"))

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; tests only
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Unit tests run tasks in-process; the integration tests switch this off around a real worker.
CELERY_TASK_ALWAYS_EAGER = True
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# The tests serve calendar feeds from local servers on 127.0.0.1 (one test turns the check back on).
FIRELINE_ALLOW_PRIVATE_FETCH = True
