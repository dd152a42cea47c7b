"""An environment for running the site as production does (``animesite.serving``) from a test:
production settings, with a database, index folder and var/ of the test's own (a migrated SQLite
file in its temporary folder: the test session's database is not visible to another process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from animesite.serving import production_env

ROOT = Path(__file__).resolve().parent.parent


def isolated_production_env(folder: Path, **extra: str) -> dict[str, str]:
    """Production settings over ``folder`` (migrated); ``extra`` overrides (e.g. REDIS_URL)."""
    var = folder / "var"
    var.mkdir(parents=True, exist_ok=True)
    defaults = {
        "ANIMESITE_VAR_DIR": str(var),
        "DATABASE_URL": f"sqlite:///{var / 'db.sqlite3'}",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "QDRANT_URL": "",
        "QDRANT_PATH": str(var / "search-index"),
        "SEARCH_AUTO_INDEX": "0",
        "GEMINI_API_KEY": "",
    }
    env = production_env(**{**defaults, **extra})
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    return env


def api_token(env: dict[str, str], username: str = "uploader") -> str:
    """A user of that site and an API token of theirs (a program's way to sign in)."""
    script = (
        "from django.contrib.auth import get_user_model; from rest_framework.authtoken.models import Token; "
        f"user = get_user_model().objects.create_user({username!r}); print(Token.objects.create(user=user).key)"
    )
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", script],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()
