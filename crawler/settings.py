"""Scrapy settings for the catalogue crawler.

Importing this module sets Django up, so ``scrapy crawl jikan`` from the repository root works
as well as ``python manage.py crawl jikan`` (which is the documented way: it adds progress, a
summary, --stale-days and the single-flight lock). Per-source politeness (delays, robots.txt)
lives in each spider's ``custom_settings``.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "animesite.settings")
django.setup()

from django.conf import settings as django_settings  # noqa: E402

BOT_NAME = "animesite"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Names the site and a contact, as both sources ask of well-behaved clients.
USER_AGENT = f"animesite-crawler/1.0 (anime catalogue site; contact: {django_settings.CRAWLER_CONTACT or 'unset'})"

# Delays are set per spider (Jikan: 3 req/s and 60/min; MyAnimeList: polite). AutoThrottle
# would adapt the delay to latency and could exceed Jikan's per-minute quota, so it stays off.
AUTOTHROTTLE_ENABLED = False
CONCURRENT_REQUESTS = 8
CONCURRENT_REQUESTS_PER_DOMAIN = 1
DOWNLOAD_TIMEOUT = 30
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False

# 429 and 5xx are retried by our middleware with exponential backoff honouring Retry-After;
# 404 reaches the spider, which gives up on it with a logged reason.
RETRY_ENABLED = True
RETRY_TIMES = 4
RETRY_HTTP_CODES = [429, 500, 502, 503, 504, 522, 524, 408]
RETRY_BACKOFF_BASE = 2.0  # seconds; doubled each attempt
RETRY_BACKOFF_MAX = 120.0  # also caps Retry-After
DOWNLOADER_MIDDLEWARES = {
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
}

ITEM_PIPELINES = {"crawler.pipelines.CataloguePipeline": 300}
EXTENSIONS = {"crawler.extensions.CrawlProgress": 500}
CRAWL_PROGRESS_INTERVAL = 5.0  # seconds between progress lines

HTTPCACHE_ENABLED = False
FEED_EXPORT_ENCODING = "utf-8"
LOG_LEVEL = "INFO"
LOG_FORMATTER = "crawler.logformatter.CrawlLogFormatter"

JIKAN_BASE_URL = django_settings.JIKAN_BASE_URL
MAL_BASE_URL = django_settings.MAL_BASE_URL
