"""The nginx proxy in front of gunicorn: its config, rendered from the project's own settings.

gunicorn's gthread workers give a thread to a connection as soon as its first byte arrives, and
the thread then waits for the rest: a few clients sending one byte every few seconds hold every
thread, and the site stops answering. nginx reads each request whole before it passes it on, so
such clients hold nginx connections (cheap) and no thread.

One source of truth: the request limits are settings (``animesite/settings.py``: the upload sizes
Django enforces, ``REQUEST_*_TIMEOUT``, ``PROXY_*``) and gunicorn's own numbers stay in
``gunicorn.conf.py`` (``timeout``, ``keepalive``). ``proxy_limits`` derives every nginx number from
those two, and ``proxy_config_render`` fills ``docker/nginx/nginx.conf.template`` with them. The
compose ``setup`` service writes the config with ``manage.py proxy_config`` into the volume the
``proxy`` service reads; ``manage.py load_test`` and the tests render the same template for an
nginx on 127.0.0.1. Nothing else writes an nginx number.
"""

from __future__ import annotations

import ipaddress
import re
import runpy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http.multipartparser import MAX_TOTAL_HEADER_SIZE

TEMPLATE = Path(settings.BASE_DIR) / "docker" / "nginx" / "nginx.conf.template"
GUNICORN_CONF = Path(settings.BASE_DIR) / "gunicorn.conf.py"
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# A multipart part's framing besides its headers: "--" + boundary (at most 70 characters,
# RFC 2046) + CRLFs.
_PART_BOUNDARY = 80


@dataclass(frozen=True)
class ProxyLimits:
    max_body_bytes: int
    header_timeout: int
    body_timeout: int
    send_timeout: int
    connections_per_address: int  # 0: no limit
    upstream_read_timeout: int
    upstream_keepalive_timeout: int  # 0: a new connection to gunicorn per request
    real_ip_from: tuple[str, ...]


def gunicorn_config() -> dict[str, Any]:
    """The values gunicorn.conf.py sets with this process's environment."""
    return runpy.run_path(str(GUNICORN_CONF))


def body_limit() -> int:
    """The largest request body Django accepts: a list export of ``FILE_UPLOAD_MAX_BYTES`` plus
    form fields up to ``DATA_UPLOAD_MAX_MEMORY_SIZE``, each part framed by a boundary and headers
    of at most Django's ``MAX_TOTAL_HEADER_SIZE``. The proxy refuses only what Django would."""
    parts = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1
    return (
        settings.FILE_UPLOAD_MAX_BYTES
        + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        + parts * (MAX_TOTAL_HEADER_SIZE + _PART_BOUNDARY)
    )


def proxy_limits(*, gunicorn: dict[str, Any] | None = None) -> ProxyLimits:
    gunicorn = gunicorn if gunicorn is not None else gunicorn_config()
    for address in settings.PROXY_REAL_IP_FROM:
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            raise ImproperlyConfigured(
                f"PROXY_REAL_IP_FROM must list addresses or networks (CIDR), got {address!r}"
            ) from None
    keepalive = int(gunicorn.get("keepalive", 0))
    return ProxyLimits(
        max_body_bytes=body_limit(),
        header_timeout=settings.REQUEST_HEADER_TIMEOUT,
        body_timeout=settings.REQUEST_BODY_TIMEOUT,
        send_timeout=settings.RESPONSE_SEND_TIMEOUT,
        connections_per_address=settings.PROXY_CONNECTIONS_PER_ADDRESS,
        # gthread has no deadline of its own for a running request (its worker timeout watches
        # the main loop): the proxy gives a request gunicorn's `timeout`, then answers 502.
        upstream_read_timeout=int(gunicorn["timeout"]),
        # Idle connections to gunicorn are closed by nginx before gunicorn closes them (after its
        # `keepalive` seconds): otherwise a request can be sent on a connection gunicorn is
        # closing, and a POST is not retried.
        upstream_keepalive_timeout=max(0, keepalive - 1),
        real_ip_from=tuple(settings.PROXY_REAL_IP_FROM),
    )


def proxy_config_render(
    *,
    listen: str,
    upstream: str,
    runtime_dir: str,
    access_log: str,
    error_log: str,
    user: str = "",
    limits: ProxyLimits | None = None,
) -> str:
    """nginx.conf for a proxy listening on ``listen`` (``80``, ``127.0.0.1:8171``) in front of
    gunicorn at ``upstream`` (``web:8000``); pid and temporary files under ``runtime_dir``;
    worker processes as ``user`` when nginx starts as root (empty: nginx's default)."""
    limits = limits or proxy_limits()
    indent = " " * 4
    values = {
        "user_directive": f"user {user};" if user else "# user: nginx's default",
        "runtime_dir": runtime_dir,
        "error_log": error_log,
        "access_log": access_log,
        "listen": listen,
        "upstream": upstream,
        "header_timeout": str(limits.header_timeout),
        "body_timeout": str(limits.body_timeout),
        "send_timeout": str(limits.send_timeout),
        "upstream_read_timeout": str(limits.upstream_read_timeout),
        "max_body_bytes": str(limits.max_body_bytes),
        "max_body_text": f"{limits.max_body_bytes / (1024 * 1024):.1f} MB",
        "real_ip": "\n".join(
            [
                *(f"{indent}set_real_ip_from {address};" for address in limits.real_ip_from),
                f"{indent}real_ip_header X-Forwarded-For;",
                f"{indent}real_ip_recursive on;",
            ]
            if limits.real_ip_from
            else [f"{indent}# No outer proxy (PROXY_REAL_IP_FROM is empty)."]
        ),
        "outer_proxy_addresses": "\n".join(f"{indent * 2}{address} 1;" for address in limits.real_ip_from)
        or f"{indent * 2}# none",
        "upstream_keepalive": (
            f"{indent * 2}keepalive 32;\n{indent * 2}keepalive_timeout {limits.upstream_keepalive_timeout}s;"
            if limits.upstream_keepalive_timeout
            else f"{indent * 2}# No keep-alive: gunicorn's keepalive is under 2 s."
        ),
        "limit_conn": (
            f"{indent * 2}limit_conn per_address {limits.connections_per_address};"
            if limits.connections_per_address
            else f"{indent * 2}# No limit of connections per address (PROXY_CONNECTIONS_PER_ADDRESS=0)."
        ),
    }
    template = TEMPLATE.read_text()
    missing = sorted(set(_PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise ValueError(f"{TEMPLATE.name}: no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
