"""The deployment files agree with the code: every setting documented, the compose stack whole."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SETTING = re.compile(r"""env_(?:str|bool|int|float|list|choice|url|database)\(\s*"([A-Z][A-Z0-9_]+)\"""")


def settings_read() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "animesite" / "settings.py", ROOT / "animesite" / "env.py"):
        names |= set(SETTING.findall(path.read_text()))
    return names


def test_it_documents_every_setting_in_env_example():
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    names = settings_read()
    assert {"DJANGO_SECRET_KEY", "DATABASE_URL", "QDRANT_URL", "DJANGO_SSL_REDIRECT"} <= names
    assert names - documented == set()


def test_it_runs_the_whole_stack_from_official_images_with_health_checks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "qdrant", "setup", "web", "proxy", "worker", "beat"}
    for name, image in (("postgres", "postgres:"), ("redis", "redis:"), ("qdrant", "qdrant/qdrant:")):
        assert services[name]["image"].startswith(image)
        assert services[name]["healthcheck"]["test"]
        assert services[name]["volumes"][0].split(":")[0] in compose["volumes"]
    assert services["web"]["command"][0] == "gunicorn"
    assert services["worker"]["command"][:4] == ["celery", "-A", "animesite", "worker"]
    assert services["beat"]["command"][:4] == ["celery", "-A", "animesite", "beat"]
    for name in ("web", "worker", "beat"):
        assert services[name]["depends_on"]["setup"] == {"condition": "service_completed_successfully"}
        assert services[name]["env_file"] == [{"path": ".env", "required": False}]
    assert services["setup"]["command"] == ["bash", "docker/setup.sh"]


def test_it_builds_a_slim_non_root_image_with_collected_static_files():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM python:3.12-slim\n" in dockerfile
    assert "pip install -r requirements.txt" in dockerfile
    assert "manage.py collectstatic --noinput" in dockerfile
    assert re.search(r"^USER app$", dockerfile, re.MULTILINE)
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", "var", ".git"} <= set(ignored)
