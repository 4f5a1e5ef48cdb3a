"""Pools hold a minimum of scratch tapes: the health check (scheduling) warns below it, and
recycled tapes count as scratch again."""

from __future__ import annotations

import pytest

from backups.context import JobContext
from backups.retention import retention_run

health = pytest.importorskip("scheduling.health")


def _scratch_warning(pool) -> str | None:
    report = health.health_check(notify=False)
    return next((r for r in report.reasons if f"Pool {pool.name} has" in r), None)


def test_below_min_scratch_is_a_health_warning_and_recycling_lifts_it(backup, pool, library):
    for _ in range(3):
        backup()  # 3 of 7 tapes used
    pool.min_scratch = 6
    pool.save()
    warning = _scratch_warning(pool)
    assert warning and "4 scratch" in warning and "minimum of 6" in warning
    retention_run(context=JobContext())  # keep the last 2: one tape back to scratch
    assert "5 scratch" in _scratch_warning(pool)
    pool.min_scratch = 5
    pool.save()
    assert _scratch_warning(pool) is None
