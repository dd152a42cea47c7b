from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from celery import shared_task

from animesite.logs import JsonFormatter, RequestIdFilter, _carry_request_id, request_id_var

logger = logging.getLogger("animesite.tests.task")


@shared_task(name="animesite.tests.log_something")
def log_something() -> None:
    logger.warning("inside the task")


@pytest.fixture(autouse=True)
def request_id_restored() -> Iterator[None]:
    """The tests set this context's request id: whatever happens, it is put back afterwards."""
    token = request_id_var.set("-")
    try:
        yield
    finally:
        request_id_var.reset(token)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[dict[str, object]] = []
        self.addFilter(RequestIdFilter())
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(self.format(record)))


def test_it_sends_the_request_id_along_with_a_queued_task():
    untouched: dict[str, object] = {}
    _carry_request_id(headers=untouched)
    assert untouched == {}  # no request: nothing to carry
    request_id_var.set("web-42")
    headers: dict[str, object] = {}
    _carry_request_id(headers=headers)
    assert headers == {"request_id": "web-42"}


def test_it_logs_a_task_under_its_id_and_gives_the_request_its_own_back(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    handler = Lines()
    logger.addHandler(handler)
    try:
        request_id_var.set("web-7")
        result = log_something.apply()
        logger.warning("after the task")
    finally:
        logger.removeHandler(handler)
    assert [(r["message"], r["request_id"]) for r in handler.records] == [
        ("inside the task", result.id),
        ("after the task", "web-7"),
    ]


def test_it_writes_one_json_line_with_extra_fields_and_the_traceback():
    handler = Lines()
    request_id_var.set("req-9")
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed %s", ("job",), None)
    record.mal_id = 5114
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    handler.handle(record)
    line = handler.records[0]
    assert (line["level"], line["logger"], line["message"], line["request_id"], line["mal_id"]) == (
        "ERROR",
        "x",
        "failed job",
        "req-9",
        5114,
    )
    assert line["exc_info"].endswith("ValueError: boom")
