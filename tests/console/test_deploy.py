"""Production serving: `check --deploy` is clean with the production environment of
docs/deploy.md, gunicorn accepts deploy/gunicorn.conf.py, and the console's static files
are collected for whitenoise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "SECRET_KEY": "x7#kq!v0-production-like-secret-key-for-the-check-zp3m9w2r8t",
    "DEBUG": "false", "ALLOWED_HOSTS": "tapes.example.com", "SECURE_SSL_REDIRECT": "true",
    "SECURE_COOKIES": "true", "SECURE_HSTS_SECONDS": "31536000",
}


def _run(args: list[str], tmp_path, **extra) -> subprocess.CompletedProcess:
    env = {**os.environ, **PRODUCTION, "TAPEBACKUP_DATA_DIR": str(tmp_path), **extra}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    done = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_gunicorn_accepts_the_documented_config(tmp_path):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    done = _run([str(gunicorn), "-c", "deploy/gunicorn.conf.py", "--check-config",
                 "tapebackup.wsgi"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_collectstatic_collects_the_console_files(tmp_path):
    done = _run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "static" / "console" / "console.js").is_file()
    assert (tmp_path / "static" / "console" / "console.css.gz").is_file()  # whitenoise
