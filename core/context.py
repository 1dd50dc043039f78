"""What the current request or job is, carried in contextvars so logs and records can name it.

`request_id_var` holds the id of the HTTP request (or Celery task) being served; log records and
audit events read it through `current_request_id()`.
"""

import contextvars

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("tally_request_id", default=None)


def current_request_id() -> str | None:
    return request_id_var.get()
