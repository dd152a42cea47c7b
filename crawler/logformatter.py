from __future__ import annotations

import logging
from typing import Any

from scrapy import logformatter
from scrapy.http import Response
from twisted.python.failure import Failure


class CrawlLogFormatter(logformatter.LogFormatter):
    """The pipeline already logs each dropped item in one line with its reason; Scrapy's own
    "Dropped:" line repeats it with the whole item (synopsis included), so it goes to DEBUG."""

    def dropped(
        self, item: Any, exception: BaseException, response: Response | Failure | None, spider: Any = None
    ) -> logformatter.LogFormatterResult:
        result = super().dropped(item, exception, response, spider)
        result["level"] = logging.DEBUG
        return result
