"""Logs: every record names the request (or Celery task) it belongs to; JSON or plain lines.

`LOG_FORMAT=json` (production default) writes one JSON object per line:

    {"time": "2026-11-30T17:21:12.123Z", "level": "INFO", "logger": "core.jobs",
     "message": "job usage.rate ok in 0.12 s: {...}", "request_id": "3f2a…", "exc": "Traceback…"}

`request_id` comes from `core.context.request_id_var`, set by `core.middleware.RequestIdMiddleware`
for HTTP requests and by the Celery signals below (the task id) for tasks; it is null outside both.
"""

import json
import logging
from datetime import UTC, datetime

from celery import signals

from core.context import current_request_id, request_id_var

NO_REQUEST = "-"


class RequestIdFilter(logging.Filter):
    """Adds `request_id` to every record the handler sees ("-" outside a request or task)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or NO_REQUEST
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (RFC 3339, UTC), level, logger, message, request_id, exc."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        request_id = getattr(record, "request_id", None) or current_request_id()
        entry = {
            "time": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": None if request_id in (None, NO_REQUEST) else request_id,
        }
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


# --- Celery: a task's id is its request id while it runs ------------------------------------
_task_tokens: dict[str, object] = {}


@signals.task_prerun.connect(dispatch_uid="core.logs.task_prerun")
def _task_started(task_id=None, **kwargs) -> None:
    if task_id:
        _task_tokens[task_id] = request_id_var.set(task_id)


@signals.task_postrun.connect(dispatch_uid="core.logs.task_postrun")
def _task_finished(task_id=None, **kwargs) -> None:
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            request_id_var.reset(token)
        except ValueError:  # set in another context (a thread pool): nothing of ours to restore
            request_id_var.set(None)
