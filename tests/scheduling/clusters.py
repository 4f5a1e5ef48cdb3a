"""Real ``manage.py qcluster`` processes on the test database, with short intervals.

The test must commit its rows (``django_db(transaction=True)``); the subprocess gets the
test database's URL (on SQLite the test database is a file: settings.py sets TEST NAME).
Clusters are stopped in ``finally``: SIGTERM to the main pid, then SIGKILL to the group.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.core.management import call_command
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or 'localhost'}:{s['PORT'] or 5432}/{s['NAME']}"


class Cluster:
    def __init__(self, name: str, log: Path, env: dict) -> None:
        self.name, self.log_path = name, log
        self.log = open(log, "w")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if f"[{self.name}] running." in self.output():
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"cluster {self.name} did not start:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text()

    def stop(self, timeout: float = 10) -> None:
        if self.process.poll() is None:
            try:
                os.kill(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)  # whatever is left of the group
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait(timeout=5)
        self.log.close()


@contextmanager
def clusters(tmp_path: Path, *names: str, **env_extra: str):
    """Start one qcluster per name (the default cluster is "tapebackup"); stop them all."""
    call_command("createcachetable", verbosity=0)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "Q_POLL": "0.1",
        "Q_WORKERS": "2",
        "TAPEBACKUP_TEST_JOB_KINDS": "1",
        "TAPEBACKUP_HEARTBEAT_SECONDS": "0.3",
        "TAPEBACKUP_CLUSTER_HEARTBEAT_SECONDS": "0.5",
        "TAPEBACKUP_LEASE_MARGIN": "1",
        "PYTHONUNBUFFERED": "1",
        **env_extra,
    }
    started: list[Cluster] = []
    try:
        for n, name in enumerate(names):
            cluster_env = dict(env)
            if name != "tapebackup":
                cluster_env["Q_CLUSTER_NAME"] = name
            else:
                cluster_env.pop("Q_CLUSTER_NAME", None)
            started.append(Cluster(name, tmp_path / f"cluster-{n}-{name}.log", cluster_env))
        for cluster in started:
            cluster.wait_ready()
        yield started
    finally:
        for cluster in started:
            cluster.stop()


def wait_for(condition, timeout: float = 30, interval: float = 0.1, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(message or "condition not met in time")


def queue_empty() -> bool:
    from django_q.models import OrmQ

    return not OrmQ.objects.exists()
