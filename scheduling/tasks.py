"""django-q2 task entry points: they take ids and call one service (STYLE §9)."""

from __future__ import annotations

from scheduling.runner import execute_run


def run_execute(run_id: int) -> str:
    """Execute one job run; a duplicate delivery returns at once."""
    return execute_run(run_id)


def scheduler_tick() -> str:
    """Every minute on the default cluster: fire due schedules, give free drives to waiting
    runs, re-check runs waiting for media."""
    from scheduling.schedules import schedules_fire_due
    from scheduling.services import runs_dispatch, runs_recheck_media

    fired = schedules_fire_due()
    resumed = runs_recheck_media()
    dispatched = runs_dispatch()
    return f"{len(fired)} fired, {resumed} resumed, {dispatched} dispatched"
