import os

from celery import Celery, Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("fireline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class FirelineTask(Task):
    """The base of every Fireline task: late acks, bounded retries with backoff, time limits.

    Tasks are idempotent (they re-fetch by primary key and return early when the work is done), so
    a redelivered message after a worker dies is harmless.
    """

    acks_late = True
    autoretry_for = (ConnectionError, TimeoutError)
    max_retries = 5
    retry_backoff = True
    retry_backoff_max = 300
    retry_jitter = True
    soft_time_limit = 60
    time_limit = 90
