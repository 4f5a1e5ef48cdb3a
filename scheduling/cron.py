"""Cron times in a schedule's time zone, counted in local wall-clock time.

croniter is walked over *naive local* times and each result is placed in the zone with
``fold=0``. So every local wall-clock time that matches fires once: on the night daylight
saving time ends a local 02:30 is the first 02:30 (summer time) and the repeated hour does
not fire again (django-q2's own cron schedules fire twice then: reference/django-q2.md §2,
E11). A local time that does not exist (spring forward) runs shifted by the gap: 02:30 runs
at 03:30 summer time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

EXAMPLE = "e.g. '0 2 1 * *' for 02:00 on the first of each month"


def cron_error(expr: str) -> str:
    """One sentence saying what is wrong with a cron expression, or "" if it is valid."""
    fields = (expr or "").split()
    if len(fields) != 5:
        return (f"{expr!r} is not a cron expression: it needs five fields (minute hour day "
                f"month weekday), not {len(fields)}; {EXAMPLE}.")
    if not croniter.is_valid(expr):
        return (f"{expr!r} is not a cron expression: a field has a value out of range or "
                f"not understood (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6); "
                f"{EXAMPLE}.")
    return ""


def _aware(naive: datetime, zone: ZoneInfo) -> datetime:
    local = naive.replace(tzinfo=zone, fold=0)
    # Normalise times in a spring-forward gap (they have no UTC instant of their own).
    return local.astimezone(ZoneInfo("UTC")).astimezone(zone)


def iter_times(expr: str, tz: str, after: datetime):
    """Aware run times strictly after ``after``, in the schedule's zone, in order."""
    zone = ZoneInfo(tz)
    start = after.astimezone(zone).replace(tzinfo=None, fold=0) - timedelta(hours=3)
    # Start a little early in wall time (a repeated hour can put `after`'s wall time behind
    # a slot that already passed) and skip what is not after `after`.
    walker = croniter(expr, start)
    last = None
    while True:
        when = _aware(walker.get_next(datetime), zone)
        if when > after and (last is None or when > last):
            last = when
            yield when


def next_after(expr: str, tz: str, after: datetime) -> datetime:
    return next(iter_times(expr, tz, after))


def next_times(expr: str, tz: str, after: datetime, count: int) -> list[datetime]:
    times = iter_times(expr, tz, after)
    return [next(times) for _ in range(count)]


def describe(when: datetime) -> str:
    """A run time as the operator checks it: 'Sun 1 Feb 2027 02:00 CET'."""
    return f"{when:%a} {when.day} {when:%b %Y %H:%M} {when.tzname()}"
