"""Upcoming anime: the catalogue's anime that have no score yet (not yet aired, or airing without
a score), each with what the active model predicts for it. ``services.upcoming_refresh`` writes
the predictions into ``UpcomingPrediction`` (after a training activates a run, after a crawl, and
``manage.py refresh_upcoming``); the pages and the API only read that table."""
