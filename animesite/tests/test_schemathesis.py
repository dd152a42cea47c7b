"""Property-based API test: schemathesis reads ``/api/schema/`` and sends generated requests
(valid and invalid) to every operation in the schema, in-process through WSGI, against the real
catalogue, search index and an active evaluator model. Every response must be a non-5xx with a
documented status code, content type, headers and a body that matches the schema.

On top of schemathesis's own cases, a ``flatmap_case`` hook turns about half of the generated
cases of every operation into hostile ones, drawn by Hypothesis: a query parameter given a huge
or odd number (``1e400``, ``2**63``, ``-2**63``, 400 digits), NUL, a lone surrogate as a client
would encode it, or repeated 2 to 250 times; a path parameter given a huge number; a JSON body
with one property holding a lone surrogate, ``1e400``, ``±2**63`` or 40-deep nesting, or the
whole body replaced by 50,000 ``[``, a lone surrogate, a surrogate key. Each still has to be
answered without a 5xx and as documented.

Bounded for CI: ``SCHEMATHESIS_MAX_EXAMPLES`` examples per operation (default 25). The figures
(operations, requests sent, hostile requests among them, responses by status) are printed at
the end of the module's run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.test.utils import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
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
    hostile = ", ".join(f"{k} {_hostile[k]:,}" for k in sorted(_hostile))
    reporter.write_line("")
    reporter.write_line(
        f"schemathesis: {len(_operations)} operations, {total:,} requests "
        f"(max {MAX_EXAMPLES} examples per operation; hostile among them: {hostile}); {by_class}; "
        f"by status: {by_code}"
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

# ---------------------------------------------------------------------------- hostile cases

HUGE_NUMBERS = ["1e400", "-1e400", str(2**63), str(-(2**63)), "9" * 400, "NaN", "-0", "1e-400"]
# A lone surrogate cannot be written in UTF-8; a careless client sends its "surrogatepass"
# bytes (Django decodes them as U+FFFD). Query values as bytes are sent as they are.
LONE_SURROGATE_BYTES = "\ud800".encode("utf-8", "surrogatepass")
ODD_QUERY_VALUES = [*HUGE_NUMBERS, "\x00", LONE_SURROGATE_BYTES, "%", "' OR 1=1 --", "x" * 2000]
# Values a repeated parameter takes: some valid somewhere (a genre, a list mode, a type).
REPEATED_VALUES = ["Action", "hide", "tv", "1", "type"]
REPEATS = [2, 33, 101, 250]  # past SQLite's join limit, the filter's cap, Django's 200 fields
# JSON literals put in place of one property's value, written raw.
ODD_JSON_VALUES = [
    '"\\ud800"',
    '"a\\udfffb"',
    '["\\ud800"]',
    "1e400",
    "-1e400",
    str(2**63),
    str(-(2**63)),
    "[" * 40 + "]" * 40,
    '{"a":' * 40 + "1" + "}" * 40,
]
# Whole bodies.
ODD_JSON_BODIES = [b"[" * 50_000, b'{"synopsis": ' + b"[" * 50_000, b'"\\ud800"', b"1e400", b'{"\\ud800": 1}']
PLACEHOLDER = "\u0001placeholder\u0001"

_hostile: Counter[str] = Counter()  # hostile requests sent, by where the hostility is
_hostile_kind: dict[str, str] = {}  # case id -> where, for the cases drawn hostile


def _with_query(case: Any, name: str, value: Any) -> Any:
    derived = case.derive(query={**case.query, name: value}, keep_auth=True)
    _hostile_kind[derived.id] = "repeated query" if isinstance(value, list) else "query"
    return derived


def _with_path(case: Any, name: str, value: str) -> Any:
    derived = case.derive(keep_auth=True)
    derived.path_parameters = {**case.path_parameters, name: value}
    _hostile_kind[derived.id] = "path"
    return derived


def _with_body(case: Any, body: bytes) -> Any:
    derived = case.derive(keep_auth=True)
    derived.body = body
    _hostile_kind[derived.id] = "body"
    return derived


def _property_replaced(body: dict[str, Any], name: str, literal: str) -> bytes:
    """``body`` as JSON with ``name``'s value written as the raw ``literal``."""
    text = json.dumps({**body, name: PLACEHOLDER})
    return text.replace(json.dumps(PLACEHOLDER), literal).encode()


@schema.hook("flatmap_case")
def hostile_case(context: Any, case: Any) -> st.SearchStrategy:
    """The case as generated, or one hostile variant of it (see the module's docstring)."""
    variants: list[st.SearchStrategy] = []
    operation = case.operation
    query_names = sorted(p.name for p in operation.query)
    if query_names:
        names = st.sampled_from(query_names)
        variants.append(st.builds(_with_query, st.just(case), names, st.sampled_from(ODD_QUERY_VALUES)))
        repeated = st.builds(
            lambda value, times: [value] * times, st.sampled_from(REPEATED_VALUES), st.sampled_from(REPEATS)
        )
        variants.append(st.builds(_with_query, st.just(case), names, repeated))
    path_names = sorted(p.name for p in operation.path_parameters)
    if path_names:
        variants.append(
            st.builds(_with_path, st.just(case), st.sampled_from(path_names), st.sampled_from(HUGE_NUMBERS[:5]))
        )
    if case.media_type == "application/json":
        bodies: list[st.SearchStrategy] = [st.sampled_from(ODD_JSON_BODIES)]
        if isinstance(case.body, dict):
            keys = sorted({*case.body, "synopsis", "genres"})
            bodies.append(
                st.builds(
                    _property_replaced, st.just(case.body), st.sampled_from(keys), st.sampled_from(ODD_JSON_VALUES)
                )
            )
        variants.append(st.builds(_with_body, st.just(case), st.one_of(bodies)))
    # Hostile variants first: Hypothesis leans towards the first branch of one_of.
    return st.one_of([*variants, st.just(case)])


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
    if case.id in _hostile_kind:
        _hostile[_hostile_kind.pop(case.id)] += 1
    with override_settings(ALLOWED_HOSTS=["localhost", "testserver"]):
        case.call_and_validate(checks=CHECKS)


# ---------------------------------------------------------------------------- every operation, every kind

SWEEP_QUERY_VALUES = ["1e400", "-1e400", str(2**63), str(-(2**63)), "9" * 400, "\x00", LONE_SURROGATE_BYTES]
SWEEP_REPEATS = [33, 101, 250]
SYNOPSIS = "A boy finds a notebook that kills anyone whose name is written in it, and decides to play god."
# A valid request of each operation that needs one, so that each hostile value is its only fault.
BASE_QUERY = {"/api/search/": {"q": "death note"}, "/compat/anime/search": {"q": "death note"}}
BASE_PATH = {"mal_id": 1535, "id": "00000000-0000-4000-8000-000000000000"}
BASE_BODY = {
    "/api/evaluate/": {"synopsis": SYNOPSIS, "genres": ["Action"], "episodes": 12, "year": 2010, "duration": 24},
    "/compat/anime/evaluate": {"synopsis": SYNOPSIS, "genres": ["Action"]},
}
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


def hostile_sweep(operation: Any) -> Iterator[tuple[str, Any]]:
    """Every hostile value of the module's docstring in every parameter and JSON property of
    ``operation``, one at a time, the rest of the request valid."""
    query = BASE_QUERY.get(operation.path, {})
    path = {p.name: BASE_PATH[p.name] for p in operation.path_parameters}

    def case(**changes: Any) -> Any:
        values = {"path_parameters": path, "query": query, **changes}
        return operation.Case(**values)

    for parameter in operation.query:
        for value in SWEEP_QUERY_VALUES:
            yield "query", case(query={**query, parameter.name: value})
        for times in SWEEP_REPEATS:
            for value in ("Action", query.get(parameter.name, "1")):
                yield "repeated query", case(query={**query, parameter.name: [value] * times})
    for parameter in operation.path_parameters:
        for value in HUGE_NUMBERS[:5]:
            yield "path", case(path_parameters={**path, parameter.name: value})
    if "application/json" in {alternative.media_type for alternative in operation.body}:
        body = BASE_BODY.get(operation.path, {})
        for raw in ODD_JSON_BODIES:
            yield "body", case(body=raw, media_type="application/json")
        for name in sorted({*body, "synopsis", "genres"}):
            for literal in ODD_JSON_VALUES:
                yield "body", case(body=_property_replaced(body, name, literal), media_type="application/json")


@pytest.mark.parametrize("operation", OPERATIONS, ids=[op.label for op in OPERATIONS])
def test_every_operation_answers_every_hostile_value_without_server_errors(operation, api_ready) -> None:
    """Deterministic beside the fuzzing above: each kind of hostile value reaches each operation."""
    with override_settings(ALLOWED_HOSTS=["localhost", "testserver"]):
        for kind, case in hostile_sweep(operation):
            _hostile[f"sweep {kind}"] += 1
            case.call_and_validate(checks=CHECKS)
