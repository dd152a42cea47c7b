#!/usr/bin/env bash
# One-shot setup (the compose `setup` service): render the proxy's nginx config, migrate, import
# the catalogue when a data folder is mounted at /data, train the evaluator when no model is
# active, build the search index. Every step is idempotent, so running it again after an upgrade
# (or a change of .env) is safe.
set -euo pipefail

# From the settings this container reads (the same .env as web): the proxy mounts this volume.
echo "setup: rendering the proxy's nginx config"
python manage.py proxy_config --output /app/proxy/nginx.conf

echo "setup: migrating"
python manage.py migrate --noinput

if [ -d /data ] && [ -n "$(ls -A /data 2>/dev/null)" ]; then
    echo "setup: importing the catalogue from /data"
    python manage.py import_anime /data
else
    echo "setup: no data mounted at /data (set DATA_DIR in .env), import skipped"
fi

anime=$(python manage.py shell --no-imports -c "from catalog.models import Anime; print(Anime.objects.count())")
active=$(python manage.py shell --no-imports -c "from evaluator.models import TrainingRun; print(int(TrainingRun.objects.active() is not None))")
if [ "$anime" -gt 0 ] && [ "$active" = "0" ]; then
    echo "setup: training the evaluator ($anime anime, no active model)"
    python manage.py train_classifier
fi

if [ "$anime" -gt 0 ]; then
    echo "setup: building the search index"
    python manage.py build_index
fi

if [ -n "${DJANGO_SUPERUSER_USERNAME:-}" ] && [ -n "${DJANGO_SUPERUSER_PASSWORD:-}" ]; then
    python manage.py createsuperuser --noinput --email "${DJANGO_SUPERUSER_EMAIL:-admin@example.org}" 2>/dev/null \
        && echo "setup: created superuser $DJANGO_SUPERUSER_USERNAME" \
        || echo "setup: superuser $DJANGO_SUPERUSER_USERNAME already exists"
fi
echo "setup: done"
