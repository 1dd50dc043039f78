"""What is running right now, carried in contextvars so logs and records can name it.

- `request_id_var` holds the id of the HTTP request (or Celery task) being served; log records
  and audit events read it through `current_request_id()`.
- The actor: who is acting. Set by `audit.middleware.AuditActorMiddleware` for HTTP requests
  (resolved lazily, so the API's actor is whoever DRF authenticated: the internal token, an API
  key or a session user), by `core.jobs.run_job` for jobs, and by the Stripe webhook handlers.
  Outside all of them (a management command, `manage.py shell`) the actor is the system, source
  shell. Every audit event reads its actor and source from here.

This module imports no ORM: core.jobs and the audit app depend on it.
"""

import contextvars
import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("tally_request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()


KIND_USER = "user"
KIND_API_KEY = "api_key"
KIND_INTERNAL = "internal"
KIND_JOB = "job"
KIND_SYSTEM = "system"
ACTOR_KINDS = (KIND_USER, KIND_API_KEY, KIND_INTERNAL, KIND_JOB, KIND_SYSTEM)

SOURCE_ADMIN = "admin"
SOURCE_API = "api"
SOURCE_WEB = "web"  # the signed-in team pages
SOURCE_WEBHOOK = "webhook"  # Stripe deliveries
SOURCE_JOB = "job"
SOURCE_SHELL = "shell"
SOURCES = (SOURCE_ADMIN, SOURCE_API, SOURCE_WEB, SOURCE_WEBHOOK, SOURCE_JOB, SOURCE_SHELL)


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str
    source: str
    id: str = ""


ActorOrResolver = Actor | Callable[[], Actor]

_actor_var: contextvars.ContextVar[ActorOrResolver | None] = contextvars.ContextVar(
    "tally_audit_actor", default=None
)


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def shell_actor() -> Actor:
    return Actor(kind=KIND_SYSTEM, label=f"shell:{_os_user()}", source=SOURCE_SHELL)


def current_actor() -> Actor:
    value = _actor_var.get()
    if callable(value):
        value = value()
    return value or shell_actor()


@contextmanager
def acting_as(actor: ActorOrResolver) -> Iterator[None]:
    """Everything recorded inside the block names `actor` (an Actor, or a function giving one
    when first needed)."""
    token = _actor_var.set(actor)
    try:
        yield
    finally:
        _actor_var.reset(token)


def job_actor(*, name: str, run_id: object = None) -> Actor:
    return Actor(kind=KIND_JOB, label=name, source=SOURCE_JOB, id=str(run_id) if run_id is not None else "")


def actor_for_principal(user, *, source: str) -> Actor:
    """The actor for a request's authenticated principal (see core.auth)."""
    if getattr(user, "is_internal", False):
        return Actor(kind=KIND_INTERNAL, label="internal-service", source=source)
    api_key = getattr(user, "api_key", None)
    if api_key is not None:
        return Actor(kind=KIND_API_KEY, label=api_key.prefix, source=source, id=str(api_key.pk))
    if getattr(user, "is_authenticated", False):
        return Actor(kind=KIND_USER, label=user.get_username(), source=source, id=str(user.pk))
    return Actor(kind=KIND_SYSTEM, label="anonymous", source=source)
