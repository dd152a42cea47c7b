"""gunicorn settings for the web container (read from the environment; see .env.example)."""

from __future__ import annotations

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# Chosen by measurement on the 2-core machine, embedded engine (Qdrant Edge), search only, 32
# clients, 30 s each (`manage.py load_test --clients 32 --evaluate-share 0 --workers W --threads T`):
#   workers x threads   1x8   2x4      2x8   3x2   3x4      3x8   4x4
#   searches/s          36.5  50-65    54    44.8  61-66    64.5  43-63
# One worker is held back by the GIL: Django's request handling is Python, the engine's query holds
# the GIL (0.9x with 2 threads), only the model's run releases it (1.4-1.8x with 2 threads). From two
# workers on, the two cores are the limit. So: one worker per core (each ~500 MB with its model);
# raise GUNICORN_WORKERS with the cores. Every worker reads the same index generation; any one
# may write a new one (catalog/search/engine/edge.py).
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Threads share one process's embedding model (the ONNX session is thread-safe), so a worker
# serves several searches at once without loading the model again.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# The nginx proxy in front (docker/nginx/, rendered by animesite/proxy.py) reads these two: it
# waits `timeout` seconds for a response (gthread has no deadline of its own for a running
# request: this timeout watches the worker's main loop), and drops idle connections to gunicorn
# a second before gunicorn's `keepalive` would. Slow clients are the proxy's business: gunicorn
# gives a thread to a connection from its first byte until its whole request is read, so it
# must not face clients directly (the client timeouts are settings: REQUEST_*_TIMEOUT).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "2000"))
max_requests_jitter = 200
# Heartbeat files in memory, not on the container's overlay filesystem.
worker_tmp_dir = "/dev/shm"
# The app logs one structured line per request (animesite.middleware.RequestIdMiddleware).
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Addresses of the TLS-terminating proxy allowed to set X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
