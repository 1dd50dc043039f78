"""Development and `make demo`: debug on, embedded defaults unless the environment says otherwise."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DJANGO_DEBUG", default=True)
INTERNAL_SERVICE_TOKEN = env("INTERNAL_SERVICE_TOKEN", default="demo-internal-token")
