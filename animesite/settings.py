"""Settings for the anime site: every value that differs between machines comes from the
environment through the typed helpers in ``animesite.env`` (see the README's settings table)."""

from __future__ import annotations

import os
from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from animesite.env import (
    env_bool,
    env_choice,
    env_choices,
    env_database,
    env_float,
    env_int,
    env_list,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ANIMESITE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
    SECRET_KEY = "django-insecure-local-development-only-key-not-for-production-use"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# Production hardening (on whenever DEBUG is off; each part can be turned down for a setup that
# needs it, e.g. plain HTTP on a private network). Behind a TLS-terminating proxy set
# DJANGO_SECURE_PROXY_SSL_HEADER=1 so Django trusts its X-Forwarded-Proto: https (only when the
# proxy always sets or strips that header).
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", not DEBUG)
# Probes come from load balancers and health checks over plain HTTP (HealthCheckMiddleware
# answers them before this redirect too).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Request limits: the one place for them. Django applies the sizes; the nginx proxy in front of
# gunicorn gets its config rendered from this block and gunicorn.conf.py (animesite/proxy.py), so
# its body limit is derived from these sizes and its client timeouts are the REQUEST_* below.
# Forms and JSON bodies are small; anything bigger is refused with 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = env_int("DJANGO_DATA_UPLOAD_MAX_NUMBER_FIELDS", 200, minimum=10)
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# Uploaded files stay in memory, never on disk, and stop at this size (animesite/uploads.py);
# the only upload is a MyAnimeList list export (its parser checks the same bound). Whole MB, as
# the page states it in MB.
FILE_UPLOAD_HANDLERS = ["animesite.uploads.MemoryOnlyUploadHandler"]
FILE_UPLOAD_MAX_BYTES = env_int("DJANGO_FILE_UPLOAD_MAX_BYTES", 5 * 1024 * 1024, minimum=1024 * 1024)
if FILE_UPLOAD_MAX_BYTES % (1024 * 1024):
    raise ImproperlyConfigured("DJANGO_FILE_UPLOAD_MAX_BYTES must be a whole number of MB (a multiple of 1048576)")
# Seconds a client may take to send its whole request header, to pause between two pieces of its
# body, and to pause while reading the response (the proxy's client_header_timeout,
# client_body_timeout and send_timeout; gunicorn alone has none of them).
REQUEST_HEADER_TIMEOUT = env_int("REQUEST_HEADER_TIMEOUT", 10, minimum=1)
REQUEST_BODY_TIMEOUT = env_int("REQUEST_BODY_TIMEOUT", 10, minimum=1)
RESPONSE_SEND_TIMEOUT = env_int("RESPONSE_SEND_TIMEOUT", 10, minimum=1)
# Connections one client address may hold open at the proxy (0: no limit). Browsers open about 6;
# offices and mobile carriers put many people behind one address.
PROXY_CONNECTIONS_PER_ADDRESS = env_int("PROXY_CONNECTIONS_PER_ADDRESS", 64, minimum=0)
# Addresses or networks (CIDR) of an outer proxy in front of the nginx one (a TLS-terminating
# load balancer): the proxy then takes the client's address and scheme from its X-Forwarded-For
# and X-Forwarded-Proto. Empty: the connection's address is the client's.
PROXY_REAL_IP_FROM = env_list("PROXY_REAL_IP_FROM", [])
# Seconds each part of /readyz may take (animesite/health.py).
HEALTH_CHECK_TIMEOUT = env_float("HEALTH_CHECK_TIMEOUT", 2.0, minimum=0.1)
# One log line per request (method, path, status, duration, request id); runserver logs its own.
REQUEST_LOG = env_bool("REQUEST_LOG", not DEBUG)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "catalog",
    "evaluator",
    "crawler",
    "jobs",
    "accounts",
]
LOGIN_REDIRECT_URL = "/my-list/"
LOGOUT_REDIRECT_URL = "/"
# Sign-in, sign-up and password reset, admin included (accounts/throttle.py): attempts per client
# address and per user name, counted in the shared cache ("off" lifts them).
AUTH_THROTTLE_IP_RATE = env_str("AUTH_THROTTLE_IP_RATE", "20/hour")
AUTH_THROTTLE_NAME_RATE = env_str("AUTH_THROTTLE_NAME_RATE", "10/hour")
if AUTH_THROTTLE_IP_RATE.strip().lower() in ("", "off", "none"):
    AUTH_THROTTLE_IP_RATE = AUTH_THROTTLE_NAME_RATE = ""

# Mail: only with EMAIL_HOST set does the site send any, and password reset is offered only then (a
# reset page that says "we sent you a mail" when nothing can be sent would lie). Nothing else sends
# mail (no ADMINS), so without it no mailer is configured at all.
_email_host = env_str("EMAIL_HOST")
if _email_host:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host,
                "port": env_int("EMAIL_PORT", 587, minimum=1, maximum=65535),
                "username": env_str("EMAIL_HOST_USER"),
                "password": env_str("EMAIL_HOST_PASSWORD"),
                "use_tls": env_bool("EMAIL_USE_TLS", True),
                "timeout": 10,
            },
        }
    }
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "webmaster@localhost")
PASSWORD_RESET_ENABLED = bool(_email_host)

MIDDLEWARE = [
    "animesite.middleware.RequestIdMiddleware",
    "animesite.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "animesite.input_guard.NulCharacterGuardMiddleware",  # NUL in a parameter: 400, not a Postgres error
    "animesite.middleware.CrossSiteWriteGuardMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.throttle.AuthThrottleMiddleware",
]

ROOT_URLCONF = "animesite.urls"
WSGI_APPLICATION = "animesite.wsgi.application"
ASGI_APPLICATION = "animesite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
            ],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", VAR_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Without collectstatic (make run, tests) whitenoise serves straight from the finders; in
# production the image's collected, compressed and hashed files are served.
WHITENOISE_USE_FINDERS = DEBUG

# Content-Security-Policy (Django 6): pages load only our own scripts and styles. Covers come
# from MyAnimeList's CDN, and for the anime anime-mapper knows only from Kitsu or AniList
# (~1,560 of the whole catalogue), from theirs: the hosts the catalogue's image URLs name.
COVER_HOSTS = ["https://cdn.myanimelist.net", "https://media.kitsu.app", "https://s4.anilist.co"]
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:", *COVER_HOSTS],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}

# Celery: without a broker every task runs eagerly in the calling process, so `make run`
# needs no Redis.
CELERY_BROKER_URL = env_url("CELERY_BROKER_URL", schemes=("redis", "rediss", "amqp", "amqps", "memory"))
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 25 * 60, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Workers log through LOGGING below (one structured line per record), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {}
# Calls recorded while the broker was down (jobs.PendingTask) are sent again once it is back.
CELERY_BEAT_SCHEDULE["jobs-pending-retry"] = {"task": "jobs.tasks.pending_tasks_retry", "schedule": 300.0}
# Signed-out visitors' imported lists expire with their session (catalog/lists/services.py).
CELERY_BEAT_SCHEDULE["lists-expire-daily"] = {
    "task": "catalog.tasks.anime_lists_expire",
    "schedule": crontab(minute=15, hour=4),
}
if not CELERY_BROKER_URL:
    CELERY_BROKER_URL = "memory://"

REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))
# The search index: a Qdrant server or cluster at QDRANT_URL, or (unset) Qdrant's engine inside
# each process (Qdrant Edge) with the index in QDRANT_PATH (catalog/search/engine/).
QDRANT_URL = env_url("QDRANT_URL", schemes=("http", "https"))
QDRANT_API_KEY = env_str("QDRANT_API_KEY")
QDRANT_PATH = Path(env_str("QDRANT_PATH", str(VAR_DIR / "search-index")))
# Seconds a Qdrant server call may take; short, so a dead server turns search into the
# database keyword fallback quickly instead of holding the request.
QDRANT_TIMEOUT = env_int("QDRANT_TIMEOUT", 3, minimum=1)
# The embedded engine keeps the index on this machine's disk. Every process that writes to it (web
# server threads with eager tasks, build_index) must share QDRANT_PATH, so Celery workers, which
# usually run elsewhere (other containers or hosts), need a Qdrant server; QDRANT_EDGE_SHARED=1
# says that every worker runs on this machine with the same QDRANT_PATH.
QDRANT_EDGE_SHARED = env_bool("QDRANT_EDGE_SHARED", False)
if not QDRANT_URL and CELERY_BROKER_URL != "memory://" and not QDRANT_EDGE_SHARED:
    raise ImproperlyConfigured(
        "CELERY_BROKER_URL is set, so Celery workers write to the search index, but QDRANT_URL is not, so "
        f"the index is embedded in this machine's {QDRANT_PATH}, which workers elsewhere cannot see. "
        "Set QDRANT_URL to a Qdrant server (docker-compose.yml runs one), or set QDRANT_EDGE_SHARED=1 "
        "if every worker runs on this machine with the same QDRANT_PATH."
    )
GEMINI_API_KEY = env_str("GEMINI_API_KEY")
GEMINI_BASE_URL = env_url("GEMINI_BASE_URL", schemes=("http", "https"))
GEMINI_TIMEOUT = env_float("GEMINI_TIMEOUT", 10.0, minimum=0.1)
EMBEDDING_BACKEND = env_choice("EMBEDDING_BACKEND", "minilm", ("minilm", "gemini"))
GEMINI_EMBEDDING_MODEL = env_str("GEMINI_EMBEDDING_MODEL", "gemini-embedding-001")
GEMINI_EMBEDDING_DIMENSION = env_int("GEMINI_EMBEDDING_DIMENSION", 768, minimum=1, maximum=3072)
GEMINI_RETRIES = env_int("GEMINI_RETRIES", 4, minimum=1)
# Search with Gemini's help (catalog/search/assist.py): with GEMINI_API_KEY set, long descriptions
# are rewritten into clues and their top candidates reranked; each call waits at most this long.
SEARCH_GEMINI = env_bool("SEARCH_GEMINI", True)
SEARCH_GEMINI_TIMEOUT = env_float("SEARCH_GEMINI_TIMEOUT", 3.0, minimum=0.1)
# Index anime in search when they are created or changed (off in the test session until a test
# or the search_index fixture needs it).
SEARCH_AUTO_INDEX = env_bool("SEARCH_AUTO_INDEX", True)
# Predict the upcoming anime again after a training activates a run and after a crawl.
UPCOMING_AUTO_REFRESH = env_bool("UPCOMING_AUTO_REFRESH", True)
# A first build (no index live yet) indexes the popular slice first (anime with at least this many
# members, about 2,300 of the whole catalogue): it goes live first, then the whole
# catalogue follows as the next generation. 0 builds the whole catalogue at once.
SEARCH_POPULAR_SLICE_MEMBERS = env_int("SEARCH_POPULAR_SLICE_MEMBERS", 100_000, minimum=0)

# The whole MyAnimeList catalogue by default (no member threshold: the anime people ask about are
# mostly not the popular ones). Music videos, commercials, promotional videos and adult titles
# are left out unless named here ("music", "cm", "pv", "adult"); adult titles brought in stay
# hidden from visitors who have not asked for them (the shared filter's ``adult``).
CATALOG_MIN_MEMBERS = env_int("CATALOG_MIN_MEMBERS", 0, minimum=0)
CATALOG_INCLUDE = env_choices("CATALOG_INCLUDE", [], ("music", "cm", "pv", "adult"))

# Crawler (crawler/): where the sources live and who to contact about the crawler's traffic.
JIKAN_BASE_URL = env_url("JIKAN_BASE_URL", "https://api.jikan.moe/v4", schemes=("http", "https")).rstrip("/")
MAL_BASE_URL = env_url("MAL_BASE_URL", "https://myanimelist.net", schemes=("http", "https")).rstrip("/")
CRAWLER_CONTACT = env_str("CRAWLER_CONTACT")  # an email or URL, sent in the User-Agent
# Weekly refresh (Celery beat): `manage.py crawl jikan` in a subprocess: every /anime list page
# (~1,100, ~20 min at Jikan's rate) with relations read only for new and changed anime. No
# --stale-days: a list page brings every anime on it anyway, and unchanged ones are not rewritten.
CELERY_BEAT_SCHEDULE["crawl-jikan-weekly"] = {
    "task": "crawler.tasks.crawl_refresh",
    "schedule": crontab(minute=0, hour=4, day_of_week="monday"),
    "kwargs": {"spider": "jikan", "stale_days": None},
}

# Evaluator (evaluator/): the comment backend ("offline" explainer, or "gemini" replacing it
# from a Celery task), the Gemini model, its timeout/retries; weekly retraining by Celery beat.
EVALUATOR_COMMENT_BACKEND = env_choice("EVALUATOR_COMMENT_BACKEND", "offline", ("offline", "gemini"))
GEMINI_MODEL = env_str("GEMINI_MODEL", "gemini-2.5-flash")
EVALUATOR_GEMINI_TIMEOUT = env_float("EVALUATOR_GEMINI_TIMEOUT", 10.0, minimum=0.1)
EVALUATOR_GEMINI_RETRIES = env_int("EVALUATOR_GEMINI_RETRIES", 3, minimum=1)
# Processes for the training's outer splits (joblib/loky; 1 = in this process).
EVALUATOR_TRAIN_JOBS = env_int("EVALUATOR_TRAIN_JOBS", min(os.cpu_count() or 1, 4), minimum=1)
EVALUATE_THROTTLE_RATE = env_str("EVALUATE_THROTTLE_RATE", "60/minute")
CELERY_BEAT_SCHEDULE["evaluator-retrain-weekly"] = {
    "task": "evaluator.tasks.retrain_scheduled",
    "schedule": crontab(minute=30, hour=3, day_of_week="sunday"),
}

# Rate limits and sign-in attempts are counted here, so every worker must share it in production:
# Redis (REDIS_URL; compose sets it, and `check --deploy` warns without it). The embedded default
# keeps the in-process cache: one process, one developer.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
    # Sites (or test runs) sharing one Redis keep their counters apart.
    | {"KEY_PREFIX": env_str("CACHE_KEY_PREFIX")}
}


def _throttle_rate(value: str) -> str | None:
    return None if value.strip().lower() in ("", "off", "none") else value


REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    # Session first: anonymous writes keep answering 403; staff scripts send "Authorization:
    # Token <key>" (tokens in the admin or `manage.py drf_create_token <user>`).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "animesite.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    # Per client address for anonymous users, per account for signed-in ones; views with a
    # throttle_scope (search, evaluate, list import) get their own tighter rate on top, shared
    # with the pages that do the same work (animesite/throttling.py: atomic counters in the
    # cache, so every worker counts together when the cache is Redis).
    "DEFAULT_THROTTLE_CLASSES": [
        "animesite.throttling.AnonRateThrottle",
        "animesite.throttling.UserRateThrottle",
        "animesite.throttling.ScopedRateThrottle",
    ],
    # Proxies in front of the app: with N > 0 the client address is read from X-Forwarded-For;
    # 0 trusts only REMOTE_ADDR (a client cannot dodge its limit with a made-up header).
    "NUM_PROXIES": env_int("API_NUM_PROXIES", 0, minimum=0),
    # DRF's parsers, JSON through animesite.parsers: too deep, lone surrogates and numbers out of
    # range answer 400 (naming the field) instead of failing further down.
    "DEFAULT_PARSER_CLASSES": [
        "animesite.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 24,
    # "off" (or empty) lifts a rate, e.g. for a load test.
    "DEFAULT_THROTTLE_RATES": {
        "evaluate": _throttle_rate(EVALUATE_THROTTLE_RATE),
        "search": _throttle_rate(env_str("SEARCH_THROTTLE_RATE", "60/minute")),
        "anon": _throttle_rate(env_str("API_ANON_THROTTLE_RATE", "300/minute")),
        "user": _throttle_rate(env_str("API_USER_THROTTLE_RATE", "1200/minute")),
        "list_import": _throttle_rate(env_str("LIST_IMPORT_THROTTLE_RATE", "10/minute")),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Anime site API",
    "DESCRIPTION": "Browse, search and evaluate ~2,300 MyAnimeList anime.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One schema name for the tier choices wherever they appear (check --deploy stays clean).
    "ENUM_NAME_OVERRIDES": {"TierEnum": "catalog.tiers.Tier.choices"},
}

# One line per record with its request id: JSON in production (LOG_FORMAT=json), readable text
# in development (LOG_FORMAT=plain).
LOG_FORMAT = env_choice("LOG_FORMAT", "plain" if DEBUG else "json", ("plain", "json"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "animesite.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "animesite.logs.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO").upper()},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
