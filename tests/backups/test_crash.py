"""A crash mid-set (SIGKILL) leaves the set running in the database; recovery at the next
start marks it failed — never complete — and the next set appends after the debris."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(TAPEBACKUP_DATA_DIR=str(data_dir), PYTHONPATH=str(ROOT),
               DATABASE_URL=f"sqlite:///{data_dir / 'crash.sqlite3'}")
    return env


def _running_with_data(db: Path) -> bool:
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "SELECT count(*) FROM backups_backupset s JOIN backups_backupsegment g "
                "ON g.backup_set_id = s.id WHERE s.status = 'running'").fetchone()
    except sqlite3.Error:
        return False
    return bool(row and row[0])


@pytest.mark.slow
def test_a_killed_run_is_marked_failed_at_the_next_start(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    big = tmp_path / "big"
    big.mkdir()
    (big / "data.bin").write_bytes(os.urandom(16 << 20))  # 8 s at the throttled speed
    small = tmp_path / "small"
    small.mkdir()
    (small / "f").write_text("after the crash")
    child = subprocess.Popen([sys.executable, str(ROOT / "tests/backups/crash_child.py"), "run",
                              str(big)], env=_env(data), cwd=ROOT)
    deadline = time.monotonic() + 60
    while not _running_with_data(data / "crash.sqlite3"):
        assert child.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(1.0)  # let it write some records
    child.send_signal(signal.SIGKILL)
    child.wait()

    out = subprocess.run([sys.executable, str(ROOT / "tests/backups/crash_child.py"), "recover",
                          str(small)], env=_env(data), cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["recovered"] == 1
    crashed, after = report["sets"]
    assert crashed["status"] == "failed" and "interrupted" in crashed["error"]
    assert after["status"] == "complete"
    assert after["segments"] == [[crashed["segments"][0][0], 2]]  # after the closed debris
