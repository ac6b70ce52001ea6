"""Fireline settings: one module, driven by environment variables.

With nothing set, Fireline runs on an embedded default: SQLite and a filesystem Celery broker
under var/, so a laptop runs web, worker and beat with no server to install.
"""

import secrets
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from config.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("FIRELINE_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["127.0.0.1", "localhost", "[::1]"]),
    CSRF_TRUSTED_ORIGINS=(list, []),
    SECURE_SSL_REDIRECT=(bool, True),
    AXES_ENABLED=(bool, True),
    CELERY_TASK_ALWAYS_EAGER=(bool, False),
)


def _local_secret_key(path: Path) -> str:
    """A key generated once per install and kept under var/ (never in the repository).

    Production sets SECRET_KEY in the environment; this only serves the embedded default, where
    web, worker and beat must share one key.
    """
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


DEBUG = env("DEBUG")
SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env("CSRF_TRUSTED_ORIGINS")
# Links in emails and pages point here. Unset, it follows PORT (as `make run` does), so web and worker
# agree on the port the server actually listens on.
FIRELINE_BASE_URL = env.str("FIRELINE_BASE_URL", default="") or f"http://127.0.0.1:{env.int('PORT', default=8000)}"
# Calendar feeds may be fetched from addresses inside the network (an install whose feeds live there).
FIRELINE_ALLOW_PRIVATE_FETCH = env.bool("FIRELINE_ALLOW_PRIVATE_FETCH", default=False)
# The reporting organisation named on regulator report PDFs.
FIRELINE_ORGANISATION_NAME = env.str("FIRELINE_ORGANISATION_NAME", default="Fireline")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from our own static files, no CDN
    "django_fsm",
    "simple_history",
    "axes",
    "django_celery_beat",
    "django_celery_results",
    "django_ratelimit",  # rate limits on the public report form; its system checks vet the cache
    "audit",
    "incidents",
    "drills",
    "preferences",  # each person's time zone and open cards
    "integrations",  # what systems that drive Fireline need kept: idempotent API writes
    "command",  # the command centre: dashboard, readiness, metrics, quality monitors
    "oncall",  # on-call schedules: layers, overrides, calendars; escalation pages whoever is on call
    "sso",  # single sign-on with OpenID Connect; provider groups mapped to Fireline's roles
    "chatops",  # a chat room per incident (Slack, Matrix), commands from chat, lifecycle posts
]

MIDDLEWARE = [
    # /healthz, /readyz and /metrics, answered before host checks and HTTPS redirects (probes use IPs)
    "config.health.ProbeMiddleware",
    "config.metrics.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.logging.RequestContextMiddleware",  # request id, user and incident on every log line
    "preferences.services.UserTimeZoneMiddleware",  # each person's own zone on screen
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # axes goes last: it reads the outcome of authentication
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "sso.backends.PasswordBackend",  # Django's ModelBackend, with FIRELINE_PASSWORD_LOGIN
    "sso.backends.ProviderBackend",  # OpenID Connect, only where OIDC_ISSUER is set
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'fireline.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside a writer, IMMEDIATE makes
    # a writer wait for the lock instead of failing half-way through a transaction.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
FORMAT_MODULE_PATH = ["config.formats"]  # one date-time format everywhere, the zone named
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# A container image collects them at build time, outside the data volume (Dockerfile).
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
MEDIA_ROOT = VAR_DIR / "media"

# Email: EMAIL_URL (smtp://user:pass@host:587/?tls=True) or console output in the embedded default.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="fireline@localhost")

# Where a login lands when it has no `next`, or a `next` that was refused (another host): the command
# centre, which is the admin index. Django's default, /accounts/profile/, does not exist here.
LOGIN_REDIRECT_URL = "/admin/"

# Single sign-on (sso/): OpenID Connect, authorization code flow with PKCE, through mozilla-django-oidc.
# Off unless OIDC_ISSUER is set; the endpoints come from the issuer's discovery document. The provider's
# groups claim maps to Fireline's roles through the mappings kept in the admin.
OIDC_ISSUER = env.str("OIDC_ISSUER", default="")
OIDC_RP_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_RP_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="single sign-on")  # "Sign in with <this>"
OIDC_RP_SCOPES = env.str("OIDC_SCOPES", default="openid email profile")
OIDC_USERNAME_CLAIM = env.str("OIDC_USERNAME_CLAIM", default="preferred_username")
OIDC_GROUPS_CLAIM = env.str("OIDC_GROUPS_CLAIM", default="groups")
OIDC_RP_SIGN_ALGO = env.str("OIDC_SIGN_ALGO", default="RS256")
OIDC_TOKEN_USE_BASIC_AUTH = env.bool("OIDC_TOKEN_USE_BASIC_AUTH", default=True)  # client_secret_basic
OIDC_USE_PKCE = True
OIDC_USE_NONCE = True
OIDC_STORE_ID_TOKEN = True  # the hint for the provider's logout
OIDC_TIMEOUT = env.int("OIDC_TIMEOUT", default=10)
OIDC_DISCOVERY_CACHE_SECONDS = env.int("OIDC_DISCOVERY_CACHE_SECONDS", default=86400)
OIDC_CLOCK_SKEW_SECONDS = 60
OIDC_AUTHENTICATION_CALLBACK_URL = "sso:callback"
# Off: only a superuser (the break-glass account) may sign in with a password.
FIRELINE_PASSWORD_LOGIN = env.bool("FIRELINE_PASSWORD_LOGIN", default=True)

# Security: production (DEBUG off) gets HTTPS-only cookies and HSTS so `check --deploy` is clean.
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env("SECURE_SSL_REDIRECT")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Admin login throttling (django-axes): five failures lock the username from that address for an hour.
AXES_ENABLED = env("AXES_ENABLED")
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 1
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

SIMPLE_HISTORY_REVERT_DISABLED = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["incidents.api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["incidents.api.auth.HasTokenScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "incidents.api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fireline API",
    "DESCRIPTION": "Incident response for AI features. Authenticate with `Authorization: Bearer <token>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # The docs pages work offline: their JavaScript and CSS come from drf-spectacular-sidecar.
    # OpenAPI 3.1, so the lifecycle events Fireline sends are described as webhooks beside the endpoints.
    "OAS_VERSION": "3.1.0",
    "WEBHOOKS": ["integrations.webhooks.incident_lifecycle_event"],
    # One schema name per choice set, however many fields use it (severity and its override, the two layers).
    "ENUM_NAME_OVERRIDES": {
        "SeverityEnum": "incidents.constants.Severity",
        "RootCauseLayerEnum": "incidents.constants.RootCauseLayer",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Cache (kill switches, tokens, rate limits): Redis where REDIS_URL is set, shared by every process; per
# process otherwise. Redis is reached through config.cache.FailSafeRedisCache: a lost Redis is a miss (the
# database answers), never an error; the kill-switch and token entries are cleared when it is back, and
# the rate limits count per process meanwhile.
if env.str("REDIS_URL", default=""):
    CACHES = {
        "default": {
            "BACKEND": "config.cache.FailSafeRedisCache",
            "LOCATION": env.str("REDIS_URL"),
            "OPTIONS": {"clear_on_recovery": ["fireline:ofrep:", "fireline:token:", "fireline:apitoken:"]},
        },
        "ratelimit": {
            "BACKEND": "config.cache.FailSafeRedisCache",
            "LOCATION": env.str("REDIS_URL"),
            "OPTIONS": {"local_fallback": True},
        },
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fireline"},
        "ratelimit": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "fireline"},
    }
RATELIMIT_USE_CACHE = "ratelimit"
# django-ratelimit vets the cache it counts in. W001 only says a backend is missing from its list, which
# predates Django's own Redis backend (atomic INCR, shared): fine for both of ours. E003 says LocMem is
# not shared between processes: true, and accepted only for the embedded default (one web process, see
# above); every other cache it calls broken (dummy, file, database) still fails the check.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
if CACHES["ratelimit"]["BACKEND"] == "django.core.cache.backends.locmem.LocMemCache":
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")

# Celery: BROKER_URL (RabbitMQ, amqp://...) where set, else Redis where REDIS_URL is set, otherwise kombu's
# filesystem transport under var/.
REDIS_URL = env.str("REDIS_URL", default="")
BROKER_URL = env.str("BROKER_URL", default="")
CELERY_QUEUE_DIR = VAR_DIR / "celery"
if BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://")):
    CELERY_BROKER_URL = BROKER_URL
    # Publisher confirms: a notification counts as queued only once RabbitMQ has it (the outbox row is
    # the truth either way; the sweep re-queues what was not confirmed).
    CELERY_BROKER_TRANSPORT_OPTIONS = {"confirm_publish": True, "max_retries": 1, "interval_start": 0}
elif BROKER_URL or REDIS_URL:
    CELERY_BROKER_URL = BROKER_URL or REDIS_URL
    # One quick connection attempt when publishing: with Redis down, kombu would otherwise sleep ~2 s
    # per notification inside the request. The outbox sweep re-queues whatever was not published.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "max_retries": 1, "interval_start": 0}
else:
    for sub in ("queue", "processed", "control"):
        (CELERY_QUEUE_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_QUEUE_DIR / "queue"),
        "data_folder_out": str(CELERY_QUEUE_DIR / "queue"),
        "processed_folder": str(CELERY_QUEUE_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(CELERY_QUEUE_DIR / "control"),
    }
CELERY_RESULT_BACKEND = "django-db"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env("CELERY_TASK_ALWAYS_EAGER")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 60
CELERY_TASK_TIME_LIMIT = 90
# django-celery-beat's database scheduler behind a leader lock: a second beat stands by (config/beat.py).
CELERY_BEAT_SCHEDULER = "config.beat:LeaderScheduler"
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "verify-action-log": {"task": "audit.tasks.verify_action_log", "schedule": 3600.0},
    # The clock: re-queue lost notifications, fire due escalations. Every minute, never an ETA task.
    "sweep-outbox": {"task": "incidents.tasks.sweep_outbox", "schedule": 60.0},
    "mark-stale-contacts": {"task": "incidents.tasks.mark_stale_contacts", "schedule": 3600.0},
    # Regulatory deadlines: reminder points are rows with a due time, found here every minute.
    "regulatory-clock": {"task": "incidents.tasks.regulatory_clock", "schedule": 60.0},
    # Action item reminders (before the due date, and when overdue): rows with a due time, every minute.
    "action-item-reminders": {"task": "incidents.tasks.remind_action_items", "schedule": 60.0},
    "expire-audit-records": {"task": "audit.tasks.expire_audit_records", "schedule": 3600.0},
    "carry-out-deletion-orders": {"task": "audit.tasks.carry_out_deletion_orders", "schedule": 60.0},
    # Quality monitors: signals from the audit trail against their thresholds, every minute.
    "check-quality-monitors": {"task": "command.tasks.check_quality_monitors", "schedule": 60.0},
    # Fire drills: one drill per policy per quarter (idempotent); injects and reminders every minute.
    "propose-quarterly-drills": {"task": "drills.tasks.propose_quarterly_drills", "schedule": 3600.0},
    "drill-clock": {"task": "drills.tasks.drill_clock", "schedule": 60.0},
    # On-call: a notice to the incoming and outgoing person at each handoff (once each); imported feeds hourly.
    "oncall-handoff-notices": {"task": "oncall.tasks.send_handoff_notices", "schedule": 60.0},
    "oncall-import-calendars": {"task": "oncall.tasks.import_calendars", "schedule": 3600.0},
    "forget-slack-requests": {"task": "chatops.tasks.forget_slack_requests", "schedule": 3600.0},
}
# A broker that is down must not hold up the request that wrote the outbox row: publish once, and
# let the sweep re-queue what did not get through. On RabbitMQ, once more at once: py-amqp does not
# reconnect a connection the broker closed (a restart), kombu's retry does; without it every publish of a
# web process or beat would fail until it restarted.
CELERY_TASK_PUBLISH_RETRY = CELERY_BROKER_URL.startswith(("amqp://", "amqps://", "pyamqp://"))
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0, "interval_max": 0}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Notification delivery: bounded retries with exponential backoff (base * 2**attempt, capped).
FIRELINE_NOTIFY_MAX_ATTEMPTS = env.int("FIRELINE_NOTIFY_MAX_ATTEMPTS", default=6)
FIRELINE_NOTIFY_BACKOFF_SECONDS = env.float("FIRELINE_NOTIFY_BACKOFF_SECONDS", default=5.0)
FIRELINE_NOTIFY_BACKOFF_MAX_SECONDS = env.float("FIRELINE_NOTIFY_BACKOFF_MAX_SECONDS", default=300.0)
# How long a worker owns a notification it is sending; a crashed worker's claim lapses after this and
# the row is sent again. A little above the longest send timeout (EMAIL_TIMEOUT, the webhooks' 10 s),
# so a live send is not duplicated and a killed one is retried within half a minute.
FIRELINE_NOTIFY_CLAIM_SECONDS = env.int("FIRELINE_NOTIFY_CLAIM_SECONDS", default=30)
# A pending notification not delivered this long after it was queued is queued again by the sweep.
FIRELINE_NOTIFY_REQUEUE_AFTER_SECONDS = env.int("FIRELINE_NOTIFY_REQUEUE_AFTER_SECONDS", default=60)
# Action items: remind the owner this many days before the due date (and once the morning after it,
# when overdue), at this hour in TIME_ZONE.
FIRELINE_ACTION_ITEM_REMIND_DAYS_BEFORE = env.list("FIRELINE_ACTION_ITEM_REMIND_DAYS_BEFORE", cast=int, default=[3, 1])
FIRELINE_ACTION_ITEM_REMIND_HOUR = env.int("FIRELINE_ACTION_ITEM_REMIND_HOUR", default=9)
# Contacts not re-verified within a quarter go stale.
FIRELINE_CONTACT_STALE_DAYS = env.int("FIRELINE_CONTACT_STALE_DAYS", default=91)
# HMAC-SHA256 key for the JSON webhook channel; generated under var/ when not set.
FIRELINE_WEBHOOK_SECRET = env.str("FIRELINE_WEBHOOK_SECRET", default="") or _local_secret_key(
    VAR_DIR / "webhook_secret"
)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# Chat-ops on Slack: the bot token (xoxb-...) and the app's signing secret; SLACK_API_URL only for a stand-in.
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api/")
# Chat-ops on Matrix (the bot must be a server admin: README): the homeserver, and the bot's access token or
# the user and password it logs in with.
MATRIX_HOMESERVER_URL = env.str("MATRIX_HOMESERVER_URL", default="")
MATRIX_BOT_TOKEN = env.str("MATRIX_BOT_TOKEN", default="")
MATRIX_BOT_USER = env.str("MATRIX_BOT_USER", default="")
MATRIX_BOT_PASSWORD = env.str("MATRIX_BOT_PASSWORD", default="")

# AI audit trail: user ids are replaced by HMAC-SHA256(secret, user id) on arrival.
FIRELINE_AUDIT_USER_SECRET = env.str("FIRELINE_AUDIT_USER_SECRET", default="") or _local_secret_key(
    VAR_DIR / "audit_user_secret"
)
# The action log's HMAC key, kept outside the database (generated under var/ when not set; back it up:
# without it keyed entries cannot be verified). Checkpoints of the chain, signed with a key derived from
# it, are appended hourly to a file in FIRELINE_AUDIT_CHECKPOINT_DIR (make it append-only, e.g.
# `chattr +a`, or a WORM mount) and sent to the addresses Legal chose.
FIRELINE_AUDIT_LOG_KEY = env.str("FIRELINE_AUDIT_LOG_KEY", default="") or _local_secret_key(VAR_DIR / "audit_log_key")
FIRELINE_AUDIT_CHECKPOINT_DIR = Path(
    env.str("FIRELINE_AUDIT_CHECKPOINT_DIR", default=str(VAR_DIR / "audit-checkpoints"))
)
FIRELINE_AUDIT_CHECKPOINT_EMAIL = env.list("FIRELINE_AUDIT_CHECKPOINT_EMAIL", default=[])
FIRELINE_AUDIT_CHECKPOINT_WEBHOOK_URL = env.str("FIRELINE_AUDIT_CHECKPOINT_WEBHOOK_URL", default="")
FIRELINE_AUDIT_MAX_LINES = env.int("FIRELINE_AUDIT_MAX_LINES", default=10000)
FIRELINE_AUDIT_MAX_BYTES = env.int("FIRELINE_AUDIT_MAX_BYTES", default=50 * 1024 * 1024)

# Alert intake: bodies over this many bytes are refused with 413 (a monitor gone wild, or an attack).
FIRELINE_ALERT_MAX_BYTES = env.int("FIRELINE_ALERT_MAX_BYTES", default=1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = max(2621440, FIRELINE_ALERT_MAX_BYTES + 1, FIRELINE_AUDIT_MAX_BYTES + 1)

# Triage: an incident touching at least this many users counts as widespread.
FIRELINE_WIDESPREAD_USERS = env.int("FIRELINE_WIDESPREAD_USERS", default=1000)

# Logs (config/logging.py): LOG_FORMAT=json (bin/serve) or text; secrets and emails are redacted in both.
LOG_FORMAT = env.str("LOG_FORMAT", default="text").lower()
if LOG_FORMAT not in {"json", "text"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}")
# One line per request (view, status, duration; never the path): on where logs are JSON, unless set.
FIRELINE_REQUEST_LOG = env.bool("FIRELINE_REQUEST_LOG", default=LOG_FORMAT == "json")
LOGGING = logging_config(log_format=LOG_FORMAT, level=env.str("LOG_LEVEL", default="INFO"))

# Health and metrics (config/health.py, config/metrics.py). /readyz fails when the oldest notification
# that is due has waited longer than this. /metrics needs the token (Authorization: Bearer ...) or a
# client address inside one of the networks; with neither set it is off.
FIRELINE_READY_OUTBOX_LAG_SECONDS = env.int("FIRELINE_READY_OUTBOX_LAG_SECONDS", default=300)
FIRELINE_METRICS_TOKEN = env.str("FIRELINE_METRICS_TOKEN", default="")
FIRELINE_METRICS_ALLOWED_NETWORKS = env.list("FIRELINE_METRICS_ALLOWED_NETWORKS", default=[])
