"""Tests: real PostgreSQL and Redis (scripts/run_tests.py finds or starts them)."""

from .base import *  # noqa: F403
from .base import CACHE_REDIS_OPTIONS, INSTALLED_APPS, env, logging_settings

# Tests, the demo and fuzzing use devtools (demo_seed); production never installs it.
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/tally"),
}
# As in production (base.py), so tests/faults exercise kept connections that PostgreSQL dropped.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
TALLY_LOCK_BACKEND = "redis"
# Each run gets its own key space so parallel runs on one Redis never meet.
TALLY_LOCK_PREFIX = env("TALLY_LOCK_PREFIX", default="tally-test:lock:")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("TALLY_CACHE_PREFIX", default="tally-test"),
        "OPTIONS": CACHE_REDIS_OPTIONS,
    }
}
# High enough that no test or fuzzing run trips them; throttle tests lower them.
TALLY_THROTTLE_KEY = TALLY_THROTTLE_USER = TALLY_THROTTLE_ANON = "1000000/min"
TALLY_THROTTLE_INGEST = "1000000/min"
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
INTERNAL_SERVICE_TOKEN = "test-internal-token"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECRET_KEY = "test-secret-key-not-for-production"
DEBUG = False
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = logging_settings(LOG_FORMAT)
