"""Development and `make demo`: debug on, embedded defaults unless the environment says otherwise."""

from .base import *  # noqa: F403
from .base import INSTALLED_APPS, env, logging_settings

# The demo's tools (demo_seed); never installed in production.
INSTALLED_APPS = [*INSTALLED_APPS, "devtools"]

DEBUG = env.bool("DJANGO_DEBUG", default=True)
INTERNAL_SERVICE_TOKEN = env("INTERNAL_SERVICE_TOKEN", default="demo-internal-token")
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = logging_settings(LOG_FORMAT)
# `make demo` sets WARNING: Celery's "received" / "succeeded" / "sending due task" lines
# would bury core.jobs' one line per run.
LOGGING["loggers"]["celery"] = {"level": env("TALLY_CELERY_LOG_LEVEL", default="INFO")}
# Owner notifications (a failed auto-recharge) are printed, not sent.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
# stripe-python logs every request at INFO: the demo's Stripe is local, its lines would bury the jobs'.
LOGGING["loggers"]["stripe"] = {"level": env("TALLY_STRIPE_LOG_LEVEL", default="WARNING")}
