"""Serving that survives slow clients: the nginx proxy in front of gunicorn, its config rendered
from the settings (animesite/proxy.py), the compose stack wired to it, and the production set-up
answering while connections trickle their requests (animesite/serving.py). 127.0.0.1 only."""

from __future__ import annotations

import http.client
import io
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command

from animesite.proxy import body_limit, gunicorn_config, proxy_config_render, proxy_limits
from animesite.serving import HOST, LocalNginx, LocalServing, Tricklers, fetch, free_port
from testsupport.production import api_token, isolated_production_env

ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024


def render_local(tmp_path: Path, *, upstream: str = "127.0.0.1:9") -> str:
    return proxy_config_render(
        listen=f"{HOST}:{free_port()}",
        upstream=upstream,
        runtime_dir=str(tmp_path),
        access_log=str(tmp_path / "access.log"),
        error_log="stderr",
    )


def directive(config: str, name: str) -> list[str]:
    return re.findall(rf"^\s*{name} ([^;{{]+);", config, re.MULTILINE)


# ---------------------------------------------------------------------------- the rendered config


def test_it_derives_every_limit_of_the_proxy_from_the_settings(settings, tmp_path):
    settings.FILE_UPLOAD_MAX_BYTES = 2 * MB
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 512 * 1024
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 50
    settings.REQUEST_HEADER_TIMEOUT = 7
    settings.REQUEST_BODY_TIMEOUT = 8
    settings.RESPONSE_SEND_TIMEOUT = 9
    settings.PROXY_CONNECTIONS_PER_ADDRESS = 12
    config = render_local(tmp_path)

    # A list export of 2 MB, 512 KB of fields, 51 parts of at most 1,024 bytes of headers and 80 of boundary.
    assert body_limit() == 2 * MB + 512 * 1024 + 51 * (1024 + 80) == 2_677_744
    assert directive(config, "client_max_body_size") == ["2677744"]
    assert directive(config, "client_body_buffer_size") == ["2677744"]
    assert directive(config, "client_header_timeout") == ["7s"]
    assert directive(config, "client_body_timeout") == ["8s"]
    assert directive(config, "send_timeout") == ["9s"]
    assert directive(config, "limit_conn") == ["per_address 12"]
    # gunicorn.conf.py: timeout 60 s, keepalive 5 s; nginx lets idle upstream connections go first.
    assert directive(config, "proxy_read_timeout") == ["60s"]
    assert directive(config, "keepalive_timeout") == ["15s", "4s"]
    assert directive(config, "proxy_set_header") == [
        'Connection ""',
        "Host $http_host",
        "X-Forwarded-For $remote_addr",
        "X-Forwarded-Proto $forwarded_proto",
        "X-Request-ID $forwarded_request_id",
    ]
    assert directive(config, "proxy_request_buffering") == ["on"]
    assert '"The request is larger than 2.6 MB."' in config
    assert "{{" not in config


def test_it_renders_a_config_nginx_accepts(settings, tmp_path):
    nginx = LocalNginx(port=free_port(), upstream="127.0.0.1:9", log_dir=tmp_path, runtime_dir=tmp_path / "a")
    checked = nginx.test_config()
    assert checked.returncode == 0, checked.stderr
    assert "syntax is ok" in checked.stderr

    # The other branches: an outer load balancer, no limit per address.
    settings.PROXY_REAL_IP_FROM = ["10.0.0.0/8", "192.168.1.5"]
    settings.PROXY_CONNECTIONS_PER_ADDRESS = 0
    nginx = LocalNginx(port=free_port(), upstream="127.0.0.1:9", log_dir=tmp_path, runtime_dir=tmp_path / "b")
    checked = nginx.test_config()
    assert checked.returncode == 0, checked.stderr
    config = nginx.config.read_text()
    assert directive(config, "set_real_ip_from") == ["10.0.0.0/8", "192.168.1.5"]
    assert directive(config, "limit_conn") == []


def test_it_refuses_an_outer_proxy_address_that_is_not_one(settings, tmp_path):
    settings.PROXY_REAL_IP_FROM = ["10.0.0.0/8", "lb.example.org"]
    with pytest.raises(ImproperlyConfigured, match=r"PROXY_REAL_IP_FROM .* got 'lb.example.org'"):
        proxy_limits()


def test_it_writes_the_compose_config_with_the_setup_command(tmp_path):
    output = tmp_path / "proxy" / "nginx.conf"
    call_command("proxy_config", output=output, stdout=io.StringIO())
    config = output.read_text()
    assert config == proxy_config_render(
        listen="80",
        upstream="web:8000",
        runtime_dir="/var/cache/nginx",
        user="nginx",
        access_log="/dev/stdout",
        error_log="/dev/stderr",
    )
    assert directive(config, "user") == ["nginx"]
    assert directive(config, "listen") == ["80 default_server"]
    assert directive(config, "server") == ["web:8000"]


# ---------------------------------------------------------------------------- compose


def test_it_puts_the_proxy_alone_on_the_published_port_in_compose():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    proxy, web, setup = services["proxy"], services["web"], services["setup"]

    assert proxy["image"].startswith("nginx:")
    assert proxy["ports"] == ["${WEB_PORT:-8000}:80"]
    assert [name for name, service in services.items() if service.get("ports")] == ["proxy"]
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    assert "/healthz" in " ".join(proxy["healthcheck"]["test"])
    assert "/healthz" in " ".join(web["healthcheck"]["test"])

    # setup renders into the volume the proxy reads its config from.
    assert proxy["command"][:3] == ["nginx", "-c", "/etc/nginx/animesite/nginx.conf"]
    assert "proxy-config:/etc/nginx/animesite:ro" in proxy["volumes"]
    assert "proxy-config:/app/proxy" in setup["volumes"]
    assert "proxy-config" in compose["volumes"]
    setup_script = (ROOT / "docker" / "setup.sh").read_text()
    assert "python manage.py proxy_config --output /app/proxy/nginx.conf\n" in setup_script

    # The rendered defaults point where compose runs things: web's gunicorn on 8000, nginx on 80.
    assert gunicorn_config()["bind"] == "0.0.0.0:8000"
    assert web["command"][0] == "gunicorn"
    # The app reads the client's address from the one proxy's X-Forwarded-For.
    assert web["environment"]["API_NUM_PROXIES"] == "${API_NUM_PROXIES:-1}"


# ---------------------------------------------------------------------------- nginx in front of a recorder


class Recorder(BaseHTTPRequestHandler):
    """Upstream that answers with what it received: the headers nginx set and the body's size."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.answer(b"")

    def do_POST(self) -> None:
        self.answer(self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def answer(self, body: bytes) -> None:
        payload = json.dumps({"headers": dict(self.headers.items()), "body_bytes": len(body)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def nginx_recorder(tmp_path) -> Iterator[LocalNginx]:
    server = ThreadingHTTPServer((HOST, 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with LocalNginx(port=free_port(), upstream=f"{HOST}:{server.server_address[1]}", log_dir=tmp_path) as nginx:
            yield nginx
    finally:
        server.shutdown()
        server.server_close()


def test_it_sets_the_client_address_and_scheme_and_passes_the_request_id(nginx_recorder):
    status, body = fetch(
        nginx_recorder.port,
        "GET",
        "/anime/",
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https", "X-Request-ID": "abc-123"},
    )
    seen = json.loads(body)["headers"]
    assert status == 200
    # Set, not appended: the address the client claimed is gone.
    assert seen["X-Forwarded-For"] == "127.0.0.1"
    assert seen["X-Forwarded-Proto"] == "http"
    assert seen["X-Request-ID"] == "abc-123"

    status, body = fetch(nginx_recorder.port, "GET", "/anime/", headers={"X-Request-ID": "no spaces allowed"})
    made = json.loads(body)["headers"]["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    # The proxy's access log carries the id the app logs.
    lines = access_lines(nginx_recorder, count=2)
    assert [line["request_id"] for line in lines] == ["abc-123", made]
    assert [line["client"] for line in lines] == ["127.0.0.1", "127.0.0.1"]


def access_lines(nginx: LocalNginx, *, count: int) -> list[dict]:
    """The access log's lines once there are ``count`` (nginx writes one after its response)."""
    deadline = time.monotonic() + 10
    while True:
        lines = [json.loads(line) for line in nginx.access_log.read_text().splitlines()]
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_it_passes_the_largest_body_django_accepts_and_refuses_a_larger_one(nginx_recorder):
    limit = body_limit()
    status, body = fetch(nginx_recorder.port, "POST", "/api/list/", body=b"x" * limit, timeout=30)
    assert (status, json.loads(body)["body_bytes"]) == (200, limit)

    status, body = fetch(nginx_recorder.port, "POST", "/api/list/", body=b"x" * (limit + 1), timeout=30)
    assert status == 413
    assert json.loads(body) == {"detail": "The request is larger than 6.2 MB."}


def test_it_cuts_off_a_client_that_trickles_its_header(settings, tmp_path):
    settings.REQUEST_HEADER_TIMEOUT = 1
    with (
        LocalNginx(port=free_port(), upstream="127.0.0.1:9", log_dir=tmp_path) as nginx,
        Tricklers(port=nginx.port, count=1, kind="headers", interval=0.2) as tricklers,
    ):
        # The trickler would go on for as long as it is let; nginx allows the header 1 s.
        deadline = time.monotonic() + 30
        while tricklers.totals()["headers"].cut == 0 and time.monotonic() < deadline:
            time.sleep(0.1)
        stats = tricklers.totals()["headers"]
    assert stats.cut >= 1
    assert stats.held[0] >= 0.9  # cut by the timeout, not refused at once


def test_it_stops_the_load_test_with_a_clear_error_when_nginx_is_missing(monkeypatch, tmp_path):
    monkeypatch.setattr("animesite.serving.NGINX_PATHS", ())
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CommandError, match=r"^nginx is not installed \(Debian: apt-get install nginx\).* --no-proxy"):
        call_command("load_test", "--slow-clients", "4")
    with pytest.raises(CommandError, match=r"^--compare runs both set-ups: leave out --no-proxy$"):
        call_command("load_test", "--compare", "--no-proxy")


# ---------------------------------------------------------------------------- the production set-up


@pytest.mark.slow
def test_it_answers_ordinary_requests_while_slow_clients_trickle_headers_and_bodies(settings, tmp_path):
    """gunicorn (1 worker x 2 threads, production settings) behind the rendered nginx, with 8
    connections trickling a header and 8 a body. gunicorn alone gives each of them a thread until
    its request is whole, so there /healthz never answers."""
    from catalog.lists.parsing import too_large

    # Long client timeouts, so the slow clients are still there at the end: this checks the
    # buffering, not the timeouts (test_it_cuts_off_a_client_that_trickles_its_header does).
    settings.REQUEST_HEADER_TIMEOUT = 300
    settings.REQUEST_BODY_TIMEOUT = 300
    env = isolated_production_env(tmp_path)
    token = api_token(env)  # the API keeps a list for a signed-in caller only

    with LocalServing(port=free_port(), proxy=True, env=env, log_dir=tmp_path / "logs", workers=1, threads=2) as site:
        site.wait_ready(needs=("database",))
        with (
            Tricklers(port=site.port, count=8, kind="headers", interval=0.5) as headers,
            Tricklers(port=site.port, count=8, kind="body", interval=0.5) as bodies,
        ):
            headers.wait_connected(10)
            bodies.wait_connected(10)
            time.sleep(2)  # each has sent a few bytes: gunicorn alone has given away its threads by now
            assert headers.open_count() + bodies.open_count() == 16

            # A client's timeout only so that a failure ends; the slow clients outlast it.
            assert fetch(site.port, "GET", "/healthz", timeout=20) == (200, b'{"status": "ok"}')
            status, body = fetch(site.port, "GET", "/api/genres/", timeout=20)
            assert (status, json.loads(body)) == (200, [])
            # A file of the largest size Django takes reaches Django, which reads it (and says it
            # is no export); one byte more gets Django's own message, not the proxy's 413.
            status, body = upload(site.port, token, b"x" * settings.FILE_UPLOAD_MAX_BYTES)
            assert status == 400
            assert list(json.loads(body)) == ["file"]
            assert json.loads(body)["file"] != [str(too_large())]
            status, body = upload(site.port, token, b"x" * (settings.FILE_UPLOAD_MAX_BYTES + 1))
            assert (status, json.loads(body)) == (400, {"file": [str(too_large())]})

            assert headers.open_count() + bodies.open_count() == 16
            assert headers.totals()["headers"].cut == bodies.totals()["body"].cut == 0


def upload(port: int, token: str, data: bytes) -> tuple[int, bytes]:
    boundary = "----animesite-test-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="animelist.xml"\r\n'
            f"Content-Type: application/xml\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    connection = http.client.HTTPConnection(HOST, port, timeout=30)
    try:
        connection.request(
            "POST",
            "/api/list/",
            body=body,
            headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Accept": "application/json",
                "Authorization": f"Token {token}",
            },
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()
