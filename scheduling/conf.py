"""Scheduling settings with their defaults (all set from the environment in settings.py).

Read through these functions, not at import time, so tests can shorten intervals with the
``settings`` fixture.
"""

from __future__ import annotations

from django.conf import settings


def _get(name: str, default):
    return getattr(settings, name, default)


def heartbeat_seconds() -> float:
    """How often a running job writes its heartbeat (and reads its cancel flag)."""
    return float(_get("TAPEBACKUP_HEARTBEAT_SECONDS", 15))


def heartbeat_thread() -> bool:
    """Heartbeat from a thread too (not only on progress calls): a job busy in one long
    tape operation (rewind, load, a huge file) still shows it is alive."""
    return bool(_get("TAPEBACKUP_HEARTBEAT_THREAD", True))


def stale_seconds() -> float:
    """A running job whose heartbeat is older than this is interrupted by the watchdog."""
    return float(_get("TAPEBACKUP_STALE_SECONDS", 180))


def progress_seconds() -> float:
    """Progress is written at most this often."""
    return float(_get("TAPEBACKUP_PROGRESS_SECONDS", 2))


def log_max_bytes() -> int:
    """A run keeps the last this-many bytes of its log and says how many lines it dropped."""
    return int(_get("TAPEBACKUP_LOG_MAX_BYTES", 64 * 1024))


def media_deadline_seconds() -> float:
    """A run waiting for media fails after this long."""
    return float(_get("TAPEBACKUP_MEDIA_DEADLINE_SECONDS", 24 * 3600))


def queued_too_long_seconds() -> float:
    """The health check warns about runs queued or waiting longer than this."""
    return float(_get("TAPEBACKUP_QUEUED_TOO_LONG_SECONDS", 3600))


def cluster_stale_seconds() -> float:
    """A cluster whose heartbeat row is older than this counts as down."""
    return float(_get("TAPEBACKUP_CLUSTER_STALE_SECONDS", 120))


def cluster_heartbeat_seconds() -> float:
    """How often a cluster's sentinel writes its heartbeat row."""
    return float(_get("TAPEBACKUP_CLUSTER_HEARTBEAT_SECONDS", 10))


def lease_margin_seconds() -> int:
    """The broker's lease on a task is the task's timeout plus this (scheduling.broker)."""
    return int(_get("TAPEBACKUP_LEASE_MARGIN", 3600))


def job_timeout_seconds() -> int:
    """Time limit of long tape jobs (backup, restore, verify)."""
    return int(_get("TAPEBACKUP_JOB_TIMEOUT", 48 * 3600))


def default_cluster() -> str:
    return settings.Q_CLUSTER["name"]


def node_clusters() -> list[str]:
    """Storage nodes that run their own cluster (Q_CLUSTER_NAME=<node>)."""
    return list(_get("TAPEBACKUP_NODES", []))


def cluster_for_node(node: str | None) -> str:
    """Runs for a node with its own cluster go there; everything else to the default one."""
    return node if node and node in node_clusters() else default_cluster()


def test_kinds_enabled() -> bool:
    return bool(_get("TAPEBACKUP_TEST_JOB_KINDS", False))


# The one django-q2 schedule we keep: it runs our scheduler pass every minute.
TICK_NAME = "tapebackup scheduler tick"
TICK_FUNC = "scheduling.tasks.scheduler_tick"
