"""Development and `make demo`: debug on, embedded defaults unless the environment says otherwise."""

from .base import *  # noqa: F403
from .base import env, logging_settings

DEBUG = env.bool("DJANGO_DEBUG", default=True)
INTERNAL_SERVICE_TOKEN = env("INTERNAL_SERVICE_TOKEN", default="demo-internal-token")
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = logging_settings(LOG_FORMAT)
