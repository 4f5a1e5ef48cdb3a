"""Settings come from the environment and fail loudly on a bad value."""

import os
import stat

import pytest
from django.core.exceptions import ImproperlyConfigured

from tapebackup import env


@pytest.mark.parametrize("raw,expected", [("1", True), ("yes", True), ("off", False), ("", False)])
def test_env_bool_reads_common_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("X_FLAG", raw)
    assert env.env_bool("X_FLAG") is expected


def test_env_bool_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be true or false"):
        env.env_bool("DEBUG")


def test_env_int_rejects_text_and_small_values(monkeypatch):
    monkeypatch.setenv("EMAIL_PORT", "twenty-five")
    with pytest.raises(ImproperlyConfigured, match="EMAIL_PORT must be a whole number"):
        env.env_int("EMAIL_PORT", 25)
    monkeypatch.setenv("EMAIL_PORT", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env.env_int("EMAIL_PORT", 25, minimum=1)


def test_env_list_splits_on_commas(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " a.example , b.example,,")
    assert env.env_list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]


def test_secret_key_is_generated_once_and_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = env.secret_key(tmp_path)
    assert env.secret_key(tmp_path) == first
    assert stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode) == 0o600
    monkeypatch.setenv("SECRET_KEY", "from-env")
    assert env.secret_key(tmp_path) == "from-env"


def _settings_in_subprocess(tmp_path, **environ):
    import subprocess
    import sys

    full = {**os.environ, "TAPEBACKUP_DATA_DIR": str(tmp_path), **environ}
    return subprocess.run(
        [sys.executable, "-c", "import tapebackup.settings as s; print(s.DATABASES['default']['ENGINE'])"],
        capture_output=True, text=True, env=full, cwd=os.path.dirname(os.path.dirname(__file__)),
    )


def test_bad_database_url_stops_with_one_sentence(tmp_path):
    result = _settings_in_subprocess(tmp_path, DATABASE_URL="mysql://x@localhost/db")
    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL or SQLite" in result.stderr


def test_default_database_is_sqlite_in_the_data_dir(tmp_path):
    env_ = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import tapebackup.settings as s; d=s.DATABASES['default']; "
         "print(d['NAME']); print(d['OPTIONS']['transaction_mode'])"],
        capture_output=True, text=True, env={**env_, "TAPEBACKUP_DATA_DIR": str(tmp_path)},
        cwd=os.path.dirname(os.path.dirname(__file__)),
    )
    name, mode = result.stdout.split()
    assert name == str(tmp_path / "tapebackup.sqlite3") and mode == "IMMEDIATE"


def test_q_cluster_retries_only_after_the_job_timeout():
    from django.conf import settings

    q = settings.Q_CLUSTER
    assert q["orm"] == "default" and q["retry"] > q["timeout"] and q["max_attempts"] == 1
    assert "ALT_CLUSTERS" in q
