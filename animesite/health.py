"""Liveness and readiness probes.

``/healthz``: the process answers (no dependency is touched), 200.
``/readyz``: each part's state (anonymous callers see up/down per part; staff, by session or
token, the details below); 200 ("ready") when every part is usable, 503 otherwise: "starting"
while the search index or the evaluator's model is not there yet (a first run builds them in the
background, and the site answers meanwhile from the keyword fallback), "unavailable" when a part
is down:

- ``database``: ``SELECT 1`` on the default connection (bound by the driver's connect timeout:
  put ``?connect_timeout=2`` on a Postgres ``DATABASE_URL``);
- ``redis``: PING with 1 s socket timeouts, only when ``REDIS_URL`` or a Redis
  ``CELERY_BROKER_URL`` is configured ("not configured" otherwise, which is fine);
- ``qdrant``: the live generation of the search index (``catalog.search.index.index_probe``: its
  size and one real query, so a damaged shard shows here) and its ``slice``: "popular" while only
  the popular slice is live (a first build's first step), "whole" once the whole catalogue is; ``missing`` (with the build's progress
  when one runs) when none was built yet; down when the engine cannot answer. The call runs in a
  helper thread and counts as down after ``HEALTH_CHECK_TIMEOUT`` seconds;
- ``catalogue``: how many anime it holds; ``missing`` while an import fills it (with its progress)
  or while it is empty;
- ``model``: the evaluator's active training run and its artifact file; ``missing`` (saying
  whether a training is running) when none is active yet; down when its file is gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from importlib import import_module
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

logger = logging.getLogger(__name__)

UP, DOWN, MISSING, NOT_CONFIGURED = "up", "down", "missing", "not configured"

# Checks that may block on the network run here, so the probe itself returns in time even when
# a client library waits longer (Qdrant's client has a 10 s timeout).
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")

Part = dict[str, object]


def _timeout() -> float:
    return float(getattr(settings, "HEALTH_CHECK_TIMEOUT", 2.0))


def _failure(error: BaseException) -> Part:
    # The class name only: the probe is public and messages can carry hosts and credentials.
    logger.warning("readiness check failed: %r", error)
    return {"status": DOWN, "error": type(error).__name__}


def _bounded(check: Callable[[], Part]) -> Part:
    future = _pool.submit(check)
    try:
        return future.result(timeout=_timeout())
    except FutureTimeout:
        logger.warning("readiness check %s timed out", check.__name__)
        return {"status": DOWN, "error": f"timed out after {_timeout():g} s"}
    except Exception as error:
        return _failure(error)


def check_database() -> Part:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"status": UP, "vendor": connection.vendor}


def _redis_url() -> str:
    if settings.REDIS_URL:
        return settings.REDIS_URL
    broker = settings.CELERY_BROKER_URL or ""
    return broker if broker.startswith(("redis://", "rediss://")) else ""


def check_redis() -> Part:
    url = _redis_url()
    if not url:
        return {"status": NOT_CONFIGURED}
    import redis

    limit = min(1.0, _timeout())
    client = redis.Redis.from_url(url, socket_connect_timeout=limit, socket_timeout=limit)
    try:
        client.ping()
    finally:
        client.close()
    return {"status": UP}


def check_qdrant() -> Part:
    from catalog.search.engine import IndexMissing, engine
    from catalog.search.index import index_base, index_probe

    try:
        part: Part = {"status": UP, **index_probe()}
    except IndexMissing:
        # Not built yet (`manage.py build_index`): search answers from the keyword fallback.
        return {"status": MISSING, "mode": engine().kind, "index": index_base(), "detail": "search index not built"}
    if part.get("slice") == "popular":
        # Searches answer from the popular slice while the whole catalogue is being built.
        part["detail"] = "popular slice live; the whole catalogue is not indexed yet"
    return part


def search_build_progress() -> Part:
    """The running build's progress (the first build, or the whole catalogue after the popular
    slice), read on the request's own database connection."""
    from catalog.search.index import index_build_running

    build = index_build_running()
    if build is None:
        return {}
    return {"detail": f"search index being built: {build.percent}%", "building": build.percent}


def check_catalogue() -> Part:
    """The catalogue: "missing" while a first import fills it (the pages answer meanwhile) or
    before any; up once it holds anime and no import runs."""
    from catalog.models import Anime
    from catalog.selectors import catalog_import_running

    running = catalog_import_running()
    count = Anime.objects.count()
    if running is not None:
        return {"status": MISSING, "anime": count, "detail": f"catalogue being imported: {running.percent}%"}
    if count == 0:
        return {"status": MISSING, "anime": 0, "detail": "empty catalogue: run manage.py import_anime"}
    return {"status": UP, "anime": count}


def check_model() -> Part:
    from evaluator.models import TrainingRun

    run = TrainingRun.objects.active()
    if run is None:
        if TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exists():
            return {"status": MISSING, "detail": "the first model is being trained"}
        return {"status": MISSING, "detail": "no active model: run manage.py train_classifier"}
    if not run.artifact or not (Path(settings.VAR_DIR) / "models" / run.artifact).is_file():
        return {"status": DOWN, "run": run.pk, "error": "artifact file missing"}
    return {"status": UP, "run": run.pk}


def _run(check: Callable[[], Part]) -> Part:
    try:
        return check()
    except Exception as error:
        return _failure(error)


def readiness() -> tuple[bool, dict[str, Part]]:
    started = time.perf_counter()
    parts = {
        # The database checks run on the request's own connection (a helper thread would open
        # a second one, and could not see a test's transaction).
        "database": _run(check_database),
        "redis": _run(check_redis),
        "qdrant": _bounded(check_qdrant),
    }
    if parts["database"]["status"] == UP:
        parts["catalogue"] = _run(check_catalogue)
        parts["model"] = _run(check_model)
        if parts["qdrant"]["status"] == MISSING:
            parts["qdrant"].update(_run(search_build_progress))
        elif parts["qdrant"].get("slice") == "popular":
            building = _run(search_build_progress).get("building")
            if building is not None:
                parts["qdrant"]["building"] = building
                parts["qdrant"]["detail"] = f"popular slice live; the whole catalogue being built: {building}%"
    else:
        parts["catalogue"] = {"status": DOWN, "error": "database"}
        parts["model"] = {"status": DOWN, "error": "database"}
    ready = all(part["status"] in (UP, NOT_CONFIGURED) for part in parts.values())
    logger.debug("readiness in %.0f ms", (time.perf_counter() - started) * 1000)
    return ready, parts


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def caller_is_staff(request: HttpRequest) -> bool:
    """Whether the caller is a signed-in staff member (session cookie) or a staff token. The probe
    is answered before the session and auth middleware run, so both are read here, and only when
    the request carries one: load balancers' probes cost no query."""
    if request.headers.get("Authorization", "").startswith("Token "):
        try:
            found = TokenAuthentication().authenticate(request)  # type: ignore[arg-type]
        except (AuthenticationFailed, DatabaseError):
            return False
        return bool(found and found[0].is_active and found[0].is_staff)
    if settings.SESSION_COOKIE_NAME not in request.COOKIES:
        return False
    engine = import_module(settings.SESSION_ENGINE)
    request.session = engine.SessionStore(request.COOKIES[settings.SESSION_COOKIE_NAME])
    try:
        user = get_user(request)
    except DatabaseError:  # the database is down: the probe still answers, without details
        return False
    return bool(user.is_active and user.is_staff)


def readyz(request: HttpRequest) -> JsonResponse:
    ready, parts = readiness()
    overall = "ready" if ready else "unavailable"
    if not ready and not any(part["status"] == DOWN for part in parts.values()):
        overall = "starting"
    if not caller_is_staff(request):
        # Anyone may probe; only staff see the details (generations, vendors, errors, progress).
        parts = {name: {"status": part["status"]} for name, part in parts.items()}
    response = JsonResponse({"status": overall, "checks": parts}, status=200 if ready else 503)
    response["Cache-Control"] = "no-store"
    return response
