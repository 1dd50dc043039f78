"""Settings shared by every mode. Everything that varies comes from the environment.

The embedded default (no DATABASE_URL, no REDIS_URL) runs on SQLite, a filesystem Celery
transport and database job locks, so `make demo` needs nothing but Python.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

from core.admin_nav import TALLY_NAVIGATION

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

from .traffic import *  # noqa: E402, F403  (the billing-service settings of traffic/)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="dev-only-insecure-secret-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "unfold",  # the admin theme; before django.contrib.admin so its site and templates win
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "djstripe",
    "core",
    "usage",
    "traffic",
    "credits",
    "billing",
    "audit",
]

MIDDLEWARE = [
    "core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "core.middleware.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "audit.middleware.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'tally.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo runs web and worker processes on one SQLite file: wait for the writer lock.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "billing:team-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.auth.InternalTokenAuthentication",
        "core.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.parsers.DecimalJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.schema.TallyAutoSchema",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_THROTTLE_CLASSES": ["core.throttling.TallyThrottle"],
}
# Requests per period ("1200/min"; s, min, hour, day) in the cache (Redis), fixed windows; see
# core/throttling.py and docs/api.md. An empty rate means no limit for that caller.
TALLY_THROTTLE_ENABLED = env.bool("TALLY_THROTTLE_ENABLED", default=True)
TALLY_THROTTLE_KEY = env("TALLY_THROTTLE_KEY", default="1200/min")  # per team API key
TALLY_THROTTLE_USER = env("TALLY_THROTTLE_USER", default="600/min")  # per signed-in user
TALLY_THROTTLE_ANON = env("TALLY_THROTTLE_ANON", default="600/min")  # per IP: no or failed credentials
TALLY_THROTTLE_INGEST = env("TALLY_THROTTLE_INGEST", default="3000/min")  # POST /api/v1/events per key
TALLY_THROTTLE_INTERNAL = env("TALLY_THROTTLE_INTERNAL", default="")  # internal token: exempt
# How many reverse proxies in front of Tally append to X-Forwarded-For; 0: REMOTE_ADDR is the client.
TALLY_THROTTLE_TRUSTED_PROXIES = env.int("TALLY_THROTTLE_TRUSTED_PROXIES", default=0)
SPECTACULAR_SETTINGS = {
    "TITLE": "Tally API",
    "DESCRIPTION": (
        "Usage-based billing and prepaid credits. Credits are decimal strings with 6 places; "
        'times are RFC 3339 in UTC. Errors are {"error": code, "message": sentence}.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# The staff's machine credential (Bearer). Empty means: no internal token accepted.
INTERNAL_SERVICE_TOKEN = env("INTERNAL_SERVICE_TOKEN", default="")

# --- Redis clients (locks, cache) -----------------------------------------------------------
# Seconds. A Redis that is down or silent fails a command within these, never hangs a request
# or a job: locks skip the job, and nothing a request needs is kept only in Redis.
TALLY_REDIS_CONNECT_TIMEOUT = env.float("TALLY_REDIS_CONNECT_TIMEOUT", default=1.0)
TALLY_REDIS_SOCKET_TIMEOUT = env.float("TALLY_REDIS_SOCKET_TIMEOUT", default=2.0)
# The cache (throttles) has its own, shorter timeouts: CACHE_REDIS_OPTIONS below.

# --- Job locks -----------------------------------------------------------------------------
# "redis" when REDIS_URL is set, otherwise locks live in the database (embedded default).
TALLY_LOCK_BACKEND = env("TALLY_LOCK_BACKEND", default="redis" if REDIS_URL else "database")
TALLY_LOCK_PREFIX = env("TALLY_LOCK_PREFIX", default="tally:lock:")
TALLY_JOB_LOCK_TTL_SECONDS = env.int("TALLY_JOB_LOCK_TTL_SECONDS", default=60)

# --- Celery --------------------------------------------------------------------------------
CELERY_FILESYSTEM_BROKER_DIR = VAR_DIR / "celery-broker"
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_BROKER_DIR),
        "data_folder_out": str(CELERY_FILESYSTEM_BROKER_DIR),
        "processed_folder": str(VAR_DIR / "celery-processed"),
        "control_folder": str(VAR_DIR / "celery-control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

# --- Cache ---------------------------------------------------------------------------------
# Short socket timeouts: with Redis down a cache call fails in well under a second (throttling
# then fails open) instead of holding the request.
CACHE_REDIS_OPTIONS = {
    "socket_connect_timeout": env.float("TALLY_CACHE_CONNECT_TIMEOUT_SECONDS", default=0.5),
    "socket_timeout": env.float("TALLY_CACHE_TIMEOUT_SECONDS", default=1.0),
    "retry": Retry(NoBackoff(), 1),
}
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": CACHE_REDIS_OPTIONS,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Stripe (dj-stripe) --------------------------------------------------------------------
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = env("STRIPE_TEST_SECRET_KEY", default="sk_test_" + "0" * 24)
STRIPE_LIVE_SECRET_KEY = env("STRIPE_LIVE_SECRET_KEY", default="")
STRIPE_TEST_PUBLIC_KEY = env("STRIPE_TEST_PUBLIC_KEY", default="pk_test_" + "0" * 24)
STRIPE_API_BASE = env("STRIPE_API_BASE", default="")  # tests point this at loopback
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
DJSTRIPE_USE_NATIVE_JSONFIELD = True
DJSTRIPE_WEBHOOK_VALIDATION = "verify_signature"
# Billing through Stripe: one metered price per currency ("eur=price_…,usd=price_…"), usage
# reported as Billing Meter events named STRIPE_METER_EVENT_NAME (a meter with `last`).
STRIPE_PRICE_IDS = env.dict("STRIPE_PRICE_IDS", default={})
STRIPE_METER_EVENT_NAME = env("STRIPE_METER_EVENT_NAME", default="tally_credits")
STRIPE_AUTOMATIC_TAX = env.bool("STRIPE_AUTOMATIC_TAX", default=True)
STRIPE_HOLD_AMOUNT_MINOR = 100  # the 1.00 hold that proves a card works

# Self-service credits (docs/billing.md, "Buying credits" and "Auto-recharge"). Per currency:
# the price of one credit in minor units, the smallest and largest purchase and the packages the
# page offers, all in whole credits. JSON, e.g. {"eur": {"unit_amount_minor": 36, "minimum": 100,
# "maximum": 100000, "packages": [500, 2000, 10000]}}.
TALLY_CREDIT_PURCHASE = env.json(
    "TALLY_CREDIT_PURCHASE",
    default={
        "eur": {"unit_amount_minor": 36, "minimum": 100, "maximum": 100000, "packages": [500, 2000, 10000]},
        "usd": {"unit_amount_minor": 40, "minimum": 100, "maximum": 100000, "packages": [500, 2000, 10000]},
    },
)
# The grants bought credits become: their priority (lower burns first) and expiry ("" none,
# else "<count> <unit>" in the engine's units, e.g. "12 MONTH").
TALLY_TOPUP_PRIORITY = env.int("TALLY_TOPUP_PRIORITY", default=10)
TALLY_TOPUP_EXPIRATION = env("TALLY_TOPUP_EXPIRATION", default="12 MONTH")
# Auto-recharge: a failed charge waits BACKOFF_MINUTES * 2^(failures-1) before the next try;
# after MAX_FAILURES in a row auto-recharge turns itself off and tells the owners.
TALLY_RECHARGE_BACKOFF_MINUTES = env.int("TALLY_RECHARGE_BACKOFF_MINUTES", default=15)
TALLY_RECHARGE_MAX_FAILURES = env.int("TALLY_RECHARGE_MAX_FAILURES", default=3)
# Where Stripe Checkout returns the customer (the team page is appended); "" = the request's host.
TALLY_PUBLIC_URL = env("TALLY_PUBLIC_URL", default="")

# --- Email (billing.services.notifications: owners hear of a failed auto-recharge) ----------
# Django's email API on SMTP; local and demo settings print to the console instead.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Tally billing <billing@tally.invalid>")

# --- Usage and billing defaults ------------------------------------------------------------
# The finance admin (django-unfold): Tally's navigation, the finance dashboard as the index.
UNFOLD = {
    "SITE_TITLE": "Tally",
    "SITE_HEADER": "Tally finance",
    "SITE_SYMBOL": "account_balance",
    "DASHBOARD_CALLBACK": "billing.admin_dashboard.dashboard_callback",
    "SIDEBAR": {"show_search": True, "show_all_applications": False, "navigation": TALLY_NAVIGATION},
}
# The dashboard's top list leaves out teams whose billable credits this cycle are below this.
TALLY_DASHBOARD_DUST_CREDITS = env("TALLY_DASHBOARD_DUST_CREDITS", default="1.00")

TALLY_DEFAULT_SPENDING_LIMIT = env("TALLY_DEFAULT_SPENDING_LIMIT", default="500")
# Threads (each with a database connection) the cycle-close job uses side by side.
TALLY_CYCLE_CLOSE_WORKERS = env.int("TALLY_CYCLE_CLOSE_WORKERS", default=4)


def logging_settings(log_format: str) -> dict:
    """LOGGING: one console handler, `json` (one object per line) or `plain`, each line with
    the request id (core/logs.py)."""
    if log_format not in ("json", "plain"):
        raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {log_format!r}.")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "core.logs.RequestIdFilter"}},
        "formatters": {
            "json": {"()": "core.logs.JsonFormatter"},
            "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": log_format, "filters": ["request_id"]}
        },
        "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }


# json in production; local, demo and test settings default to plain.
LOG_FORMAT = env("LOG_FORMAT", default="json")
LOGGING = logging_settings(LOG_FORMAT)
# Celery workers keep the LOGGING above (and the task id as request id) instead of their own.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Celery workers serve their own /metrics on this port (0: none); jobs count there. Bind to a
# private address only: it has no authentication.
TALLY_WORKER_METRICS_PORT = env.int("TALLY_WORKER_METRICS_PORT", default=0)
TALLY_WORKER_METRICS_ADDR = env("TALLY_WORKER_METRICS_ADDR", default="127.0.0.1")

# How far back the ledger job looks for stopped workspace instances without a final entry.
TALLY_RECONCILE_STOPPED_LOOKBACK_DAYS = env.int("TALLY_RECONCILE_STOPPED_LOOKBACK_DAYS", default=35)

# --- Meter event ingestion -----------------------------------------------------------------
TALLY_INGEST_MAX_EVENTS = 1000
TALLY_INGEST_MAX_BYTES = 5 * 1024 * 1024
TALLY_INGEST_MAX_AGE_DAYS = 35
TALLY_INGEST_MAX_FUTURE_SECONDS = 300
TALLY_INGEST_MAX_METADATA_BYTES = 4096
# Django itself refuses larger bodies; the ingest view answers 413 above TALLY_INGEST_MAX_BYTES.
DATA_UPLOAD_MAX_MEMORY_SIZE = TALLY_INGEST_MAX_BYTES + 1024
# Minutes after an hour ends before its meter entry is final; later events get corrections.
TALLY_METER_FINALIZE_GRACE_MINUTES = env.int("TALLY_METER_FINALIZE_GRACE_MINUTES", default=10)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# --- Secrets at rest (traffic settings: config/settings/traffic.py, imported at the top) ----
# Fernet key(s) for secrets at rest (core.crypto); empty: a key derived from SECRET_KEY.
TALLY_ENCRYPTION_KEY = env("TALLY_ENCRYPTION_KEY", default="")
