"""Property-based API test: schemathesis reads ``/api/schema/`` and sends generated requests
(valid and invalid) to every operation in the schema, in-process through WSGI, against the real
catalogue, search index and an active evaluator model. Every response must be a non-5xx with a
documented status code, content type, headers and a body that matches the schema.

Bounded for CI: ``SCHEMATHESIS_MAX_EXAMPLES`` examples per operation (default 25). The figures
(operations, requests sent, responses by status) are printed at the end of the module's run.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from django.test.utils import override_settings
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "25"))

_statuses: Counter[str] = Counter()
_operations: set[str] = set()


def not_a_server_error(ctx, response, case) -> bool | None:
    """schemathesis's own check, counting every response on the way."""
    from schemathesis.checks import not_a_server_error as builtin

    _statuses[f"{response.status_code // 100}xx"] += 1
    _statuses[str(response.status_code)] += 1
    return builtin(ctx, response, case)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_ready(search_index, trained, settings_rates, _connections_kept_open) -> None:
    """The real catalogue in search and the session's model active: every operation can answer."""
    from evaluator.tests.conftest import _restore

    _restore(trained)


@pytest.fixture
def _connections_kept_open() -> Iterator[None]:
    """The cases go through the bare WSGI handler, whose request signals would close the
    database connection that holds the test's transaction (Django does this when autocommit
    differs from the settings; harmless on SQLite's in-memory test database, fatal on
    PostgreSQL). Django's own test client disconnects the same receiver."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def settings_rates(settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Throttles off (DRF reads the rates once, into the throttle class): the fuzzer sends
    thousands of requests from one address."""
    from rest_framework.throttling import SimpleRateThrottle

    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES))
    settings.EVALUATOR_COMMENT_BACKEND = "offline"


@pytest.fixture(scope="module", autouse=True)
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    by_class = ", ".join(f"{k}: {_statuses[k]:,}" for k in sorted(_statuses) if k.endswith("xx"))
    by_code = ", ".join(f"{k}: {_statuses[k]:,}" for k in sorted(_statuses) if not k.endswith("xx"))
    total = sum(v for k, v in _statuses.items() if k.endswith("xx"))
    reporter.write_line("")
    reporter.write_line(
        f"schemathesis: {len(_operations)} operations, {total:,} requests "
        f"(max {MAX_EXAMPLES} examples per operation); {by_class}; by status: {by_code}"
    )


def _schema_load():
    """The schema as the site serves it, loaded through WSGI at collection time (the schema view
    reads no data); the cases then run against the same application, in-process. (The lazy
    ``schemathesis.pytest.from_fixture`` loader does not work with pytest 9.)"""
    from django.core.wsgi import get_wsgi_application
    from django.test.utils import override_settings

    with override_settings(ALLOWED_HOSTS=["localhost", "testserver"]):
        return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


schema = _schema_load()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
def test_it_answers_every_operation_without_server_errors_and_as_documented(case, api_ready) -> None:
    _operations.add(case.operation.label)
    with override_settings(ALLOWED_HOSTS=["localhost", "testserver"]):
        case.call_and_validate(checks=CHECKS)
