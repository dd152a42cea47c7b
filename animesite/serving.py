"""The production set-up on this machine, 127.0.0.1 only, for ``manage.py load_test`` and the
tests: gunicorn with ``gunicorn.conf.py`` and production settings, behind nginx with the config
``animesite.proxy`` renders (what compose runs), or gunicorn alone (``proxy=False``) to compare.
Also the slow clients used to measure it (``Trickler``)."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from animesite.proxy import ProxyLimits, proxy_config_render

HOST = "127.0.0.1"
# Debian installs nginx in /usr/sbin, which is not on every user's PATH.
NGINX_PATHS = ("/usr/sbin", "/usr/local/sbin", "/usr/local/nginx/sbin")


class ServingError(RuntimeError):
    """The set-up could not start (nginx missing, a process exited, not ready in time)."""


def nginx_binary(explicit: str = "") -> str:
    """The nginx executable: ``explicit``, else on PATH or in the usual sbin folders."""
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise ServingError(f"nginx not found at {explicit}")
        return explicit
    search = os.pathsep.join([*filter(None, os.environ.get("PATH", "").split(os.pathsep)), *NGINX_PATHS])
    found = shutil.which("nginx", path=search)
    if not found:
        raise ServingError(
            "nginx is not installed (Debian: apt-get install nginx); it is the proxy of the "
            "production set-up. Pass --nginx PATH, or --no-proxy to measure gunicorn alone."
        )
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def production_env(**overrides: str) -> dict[str, str]:
    """This process's environment with production settings on plain HTTP at 127.0.0.1."""
    return {
        **os.environ,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": HOST,
        "DJANGO_SSL_REDIRECT": "0",
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_HSTS_SECONDS": "0",
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "warning"),
        **overrides,
    }


def fetch(
    port: int,
    method: str,
    path: str,
    *,
    timeout: float = 10.0,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers={"Accept": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class _Processes:
    """Processes started in sessions of their own, logging to ``log_dir/serving_<name>.log``."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = Path(log_dir)
        self.processes: dict[str, subprocess.Popen] = {}
        self._logs: list = []

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"serving_{name}.log"

    def spawn(self, name: str, command: list[str], *, env: dict[str, str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path(name), "w")  # open while the process runs
        self._logs.append(log)
        # A session of its own: a terminal's Ctrl-C reaches this process only, which then stops
        # the server in order; the process group lets _stop() end the workers too.
        process = subprocess.Popen(
            command,
            cwd=settings.BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise ServingError(f"{name} exited with {process.returncode} (log: {self.log_path(name)})")

    def stop(self, name: str, *, graceful: signal.Signals) -> None:
        process = self.processes.get(name)
        if process is not None:
            _stop(process, graceful=graceful)

    def close_logs(self) -> None:
        for log in self._logs:
            log.close()
        self._logs.clear()


class LocalNginx:
    """nginx on 127.0.0.1:``port`` in front of ``upstream``, with the config
    ``proxy_config_render`` makes (``limits``: from the settings unless given); pid and temporary
    files in ``runtime_dir`` (default: a temporary folder removed on stop). A context manager that
    stops it, workers included."""

    def __init__(
        self,
        *,
        port: int,
        upstream: str,
        log_dir: Path,
        nginx: str = "",
        limits: ProxyLimits | None = None,
        runtime_dir: Path | None = None,
    ) -> None:
        self.port = port
        self.upstream = upstream
        self.nginx = nginx_binary(nginx)
        self.limits = limits
        self.procs = _Processes(log_dir)
        self.runtime_dir = runtime_dir
        self.temporary = runtime_dir is None
        self.config: Path | None = None

    @property
    def access_log(self) -> Path:
        return self.procs.log_path("nginx_access")

    def render(self) -> Path:
        """The rendered config, in a fresh runtime folder (pid, temporary files)."""
        if self.runtime_dir is None:
            self.runtime_dir = Path(tempfile.mkdtemp(prefix="animesite-nginx-"))
        self.runtime_dir.mkdir(parents=True, exist_ok=True)
        # Traversable by nginx's worker user when this runs as root (nginx then drops to nobody).
        self.runtime_dir.chmod(0o755)
        self.procs.log_dir.mkdir(parents=True, exist_ok=True)
        self.access_log.write_text("")
        self.config = self.runtime_dir / "nginx.conf"
        self.config.write_text(
            proxy_config_render(
                listen=f"{HOST}:{self.port}",
                upstream=self.upstream,
                runtime_dir=str(self.runtime_dir),
                access_log=str(self.access_log),
                error_log="stderr",
                limits=self.limits,
            )
        )
        return self.config

    def test_config(self) -> subprocess.CompletedProcess:
        """``nginx -t`` on the rendered config."""
        config = self.config or self.render()
        return subprocess.run([self.nginx, "-t", "-e", "stderr", "-c", str(config)], capture_output=True, text=True)

    def start(self) -> None:
        check = self.test_config()
        if check.returncode != 0:
            raise ServingError(f"nginx -t refused the rendered config {self.config}: {check.stderr.strip()}")
        command = [self.nginx, "-e", "stderr", "-c", str(self.config), "-g", "daemon off;"]
        self.procs.spawn("nginx", command, env=dict(os.environ))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.procs.check_alive()
            with contextlib.suppress(OSError), socket.create_connection((HOST, self.port), timeout=1):
                return
            time.sleep(0.1)
        raise ServingError(f"nginx did not listen on {HOST}:{self.port} (log: {self.procs.log_path('nginx')})")

    def stop(self) -> None:
        # SIGQUIT: nginx finishes the requests it holds, then exits.
        self.procs.stop("nginx", graceful=signal.SIGQUIT)
        self.procs.close_logs()
        if self.temporary and self.runtime_dir is not None:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir = None

    def __enter__(self) -> LocalNginx:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalServing:
    """gunicorn (with nginx in front when ``proxy``) answering on 127.0.0.1:``port``; a context
    manager that stops both, with every process they started, when it exits."""

    def __init__(
        self,
        *,
        port: int,
        proxy: bool,
        env: dict[str, str],
        log_dir: Path,
        workers: int | None = None,
        threads: int | None = None,
        nginx: str = "",
        limits: ProxyLimits | None = None,
    ) -> None:
        self.port = port
        self.env = dict(env)
        self.workers = workers
        self.threads = threads
        self.app_port = free_port() if proxy else port
        self.log_dir = Path(log_dir)
        self.procs = _Processes(log_dir)
        self.proxy = (
            LocalNginx(port=port, upstream=f"{HOST}:{self.app_port}", log_dir=log_dir, nginx=nginx, limits=limits)
            if proxy
            else None
        )

    @property
    def description(self) -> str:
        if self.proxy:
            return f"nginx on {HOST}:{self.port} -> gunicorn on {HOST}:{self.app_port}"
        return f"gunicorn alone on {HOST}:{self.port}"

    def __enter__(self) -> LocalServing:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        env = {**self.env, "GUNICORN_BIND": f"{HOST}:{self.app_port}"}
        if self.workers:
            env["GUNICORN_WORKERS"] = str(self.workers)
        if self.threads:
            env["GUNICORN_THREADS"] = str(self.threads)
        if self.proxy:
            # As in compose: the app reads the client's address from the proxy's X-Forwarded-For.
            env.setdefault("API_NUM_PROXIES", "1")
            self.proxy.start()
        self.procs.spawn(
            "gunicorn",
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "animesite.wsgi:application"],
            env=env,
        )

    def check_alive(self) -> None:
        self.procs.check_alive()
        if self.proxy:
            self.proxy.procs.check_alive()

    def wait_ready(self, *, needs: Iterable[str] | None = None, seconds: float = 120.0) -> dict:
        """Wait until /readyz says ready, or, with ``needs``, until those of its parts are up
        (a search-only measure does not need the evaluator's model). Returns /readyz's JSON."""
        deadline = time.monotonic() + seconds
        last = "no answer"
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                status, body = fetch(self.port, "GET", "/readyz")
            except OSError:
                time.sleep(0.3)
                continue
            last = f"/readyz {status}: {body.decode(errors='replace')[:400]}"
            try:
                answer = json.loads(body)
            except ValueError:
                answer = {}
            checks = answer.get("checks", {}) if isinstance(answer, dict) else {}
            if status == 200 or (
                needs is not None
                and all(checks.get(part, {}).get("status") in ("up", "not configured") for part in needs)
            ):
                return answer
            time.sleep(0.5)
        raise ServingError(f"not ready within {seconds:.0f} s: {last}")

    def stop(self) -> None:
        # gunicorn first (graceful: it finishes the requests it holds), then the proxy.
        self.procs.stop("gunicorn", graceful=signal.SIGTERM)
        self.procs.close_logs()
        if self.proxy:
            self.proxy.stop()


def _stop(process: subprocess.Popen, *, graceful: signal.Signals) -> None:
    for sig, wait in ((graceful, 20), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if process.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=wait)
    # Workers left in the group (a master killed hard) go too.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


# ---------------------------------------------------------------------------- slow clients


@dataclass
class TrickleStats:
    opened: int = 0
    cut: int = 0  # connections the server closed (or answered) while the client was still sending
    bytes_sent: int = 0
    held: list[float] = field(default_factory=list)  # seconds each cut connection lasted


class Trickler(threading.Thread):
    """A slow client: opens a connection and sends one byte every ``interval`` seconds, either of
    a request header that never ends (``kind="headers"``) or, after a whole header, of a body
    announced as ``body_bytes`` long (``kind="body"``). When the server closes the connection it
    opens another, like a patient attacker, until ``stop()``."""

    def __init__(
        self, *, port: int, kind: str, interval: float, path: str = "/api/evaluate/", body_bytes: int = 100_000
    ) -> None:
        super().__init__(daemon=True, name=f"trickler-{kind}")
        if kind not in ("headers", "body"):
            raise ValueError(f"kind must be headers or body, got {kind!r}")
        self.port = port
        self.kind = kind
        self.interval = interval
        self.path = path
        self.body_bytes = body_bytes
        self.stats = TrickleStats()
        self.connected = threading.Event()
        self._halt = threading.Event()
        self.lock = threading.Lock()
        self.sock: socket.socket | None = None

    def stop(self) -> None:
        self._halt.set()

    @property
    def holding(self) -> bool:
        """Whether the client holds a connection (as far as it knows: it sees a close when it
        next sends)."""
        with self.lock:
            return self.sock is not None

    def stream(self) -> Iterable[bytes]:
        if self.kind == "headers":
            head = f"GET /api/search/?q=slow HTTP/1.1\r\nHost: {HOST}\r\nX-Slow: ".encode()
            yield from (head[i : i + 1] for i in range(len(head)))
            while True:
                yield b"a"
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {self.body_bytes}\r\n\r\n"
        ).encode()
        yield head  # the header at once; then the body a byte at a time
        while True:
            yield b" "

    def run(self) -> None:
        while not self._halt.is_set():
            try:
                sock = socket.create_connection((HOST, self.port), timeout=10)
            except OSError:
                self._halt.wait(self.interval)
                continue
            with self.lock:
                self.sock = sock
                self.stats.opened += 1
            self.connected.set()
            opened = time.monotonic()
            cut = False
            for piece in self.stream():
                if _closed_by_peer(sock):
                    cut = True
                    break
                try:
                    sock.sendall(piece)
                except OSError:
                    cut = True
                    break
                with self.lock:
                    self.stats.bytes_sent += len(piece)
                if self._halt.wait(self.interval):
                    break
            with self.lock:
                self.sock = None
                if cut:
                    self.stats.cut += 1
                    self.stats.held.append(time.monotonic() - opened)
            sock.close()


def _closed_by_peer(sock: socket.socket) -> bool:
    """The server closed the connection or answered (408, 400, 413...) while we were sending."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class Tricklers:
    """``count`` slow clients of ``kind`` (``headers``, ``body`` or ``both``: half each)."""

    def __init__(self, *, port: int, count: int, kind: str, interval: float) -> None:
        kinds = {"headers": ["headers"], "body": ["body"], "both": ["headers", "body"]}[kind]
        self.clients = [Trickler(port=port, kind=kinds[i % len(kinds)], interval=interval) for i in range(count)]

    def __enter__(self) -> Tricklers:
        for client in self.clients:
            client.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for client in self.clients:
            client.stop()
        for client in self.clients:
            client.join(timeout=5)

    def wait_connected(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        for client in self.clients:
            client.connected.wait(max(0.0, deadline - time.monotonic()))

    def open_count(self) -> int:
        return sum(client.holding for client in self.clients)

    def totals(self) -> dict[str, TrickleStats]:
        by_kind: dict[str, TrickleStats] = {}
        for client in self.clients:
            total = by_kind.setdefault(client.kind, TrickleStats())
            with client.lock:
                total.opened += client.stats.opened
                total.cut += client.stats.cut
                total.bytes_sent += client.stats.bytes_sent
                total.held.extend(client.stats.held)
        return by_kind
