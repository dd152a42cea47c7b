"""Log records as one line each, carrying the id of the request (or task) they belong to.

``RequestIdFilter`` copies the current request id (a context variable set by
``animesite.middleware.RequestIdMiddleware``) onto every record; ``JsonFormatter`` writes a
record as one JSON object per line for log shippers; in development the plain formatter shows
the same fields as readable text.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar, Token
from datetime import UTC, datetime

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is kept.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", request_id_var.get()),
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


# Celery: a task's log lines carry the id of the web request that queued it (sent along as a
# message header), else the task's own id. Connected by animesite/celery.py.
_task_tokens: dict[str, Token[str]] = {}


def _carry_request_id(headers: dict[str, object] | None = None, **kwargs: object) -> None:
    request_id = request_id_var.get()
    if headers is not None and request_id != "-":
        headers.setdefault("request_id", request_id)


def _task_started(task_id: str | None = None, task: object = None, **kwargs: object) -> None:
    queued_by = getattr(getattr(task, "request", None), "request_id", None)
    if task_id:
        _task_tokens[task_id] = request_id_var.set(str(queued_by or task_id))


def _task_finished(task_id: str | None = None, **kwargs: object) -> None:
    token = _task_tokens.pop(task_id or "", None)
    if token is not None:
        # Restores the caller's id (an eager task runs inside the web request).
        try:
            request_id_var.reset(token)
        except ValueError:  # started in another context
            request_id_var.set("-")


def connect_celery_signals() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_carry_request_id, weak=False)
    task_prerun.connect(_task_started, weak=False)
    task_postrun.connect(_task_finished, weak=False)
