"""Scrapy project that feeds the catalogue from the Jikan API and MyAnimeList pages.

Spiders only parse and yield plain items (``crawler.items``); ``crawler.pipelines`` turns them
into ``catalog.records.AnimeRecord`` and stores them with ``catalog.services.anime_upsert``,
the same service ``import_anime`` uses.
"""
