"""Retention policy evaluation: a pure function from a job's backup sets to expiry decisions.

Plain dataclasses in, decisions with reasons out; no ORM, no clock (``now`` is an argument),
so every rule can be tested on its own (``tests/retention/test_policy.py``, and the
hypothesis properties in ``test_properties.py``). ``backups.retention`` feeds it the sets of
each job and carries the decisions out; ``docs/retention.md`` documents the rules.

The rules, exactly:

- Only *generations* count: restorable full sets (complete, or complete with warnings).
  Failed sets (interrupted, cancelled, write errors) never count and expire at once; a set
  still being written is never touched.
- ``time``: a generation is kept until ``started_at + keep_days``.
- ``last``: the newest ``keep_last`` generations are kept.
- ``gfs``: for each of daily, weekly, monthly, yearly independently, walk the generations
  newest first and keep the first one met in each new period, until that many periods have
  a kept generation. The period of a set is that of its ``started_at`` read in the policy's
  time zone: the local date; the ISO week (Monday to Sunday, ISO week-numbering year); the
  calendar month; the calendar year. So each period is represented by its *newest*
  generation, periods with no generation (missed runs) are skipped rather than counted,
  and nothing expires by the passing of time alone: only a newer generation pushes an old
  one out.
- ``forever``: every generation is kept.
- Invariant 7: the newest restorable full and the newest full that completed without
  warnings are always kept, whatever the policy says.
- A set on hold (an operator's decision) is always kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

# A date standing for "no date: until the retention check decides" in ``protected_until``
# (far enough to never come, near enough that every time zone can show it).
FOREVER = dt.datetime(9999, 1, 1, tzinfo=dt.timezone.utc)

TIME, LAST, GFS, KEEP_FOREVER = "time", "last", "gfs", "forever"
COMPLETE, WARNINGS, FAILED, RUNNING = "complete", "warnings", "failed", "running"
RESTORABLE = (COMPLETE, WARNINGS)
FULL = "full"


@dataclass(frozen=True)
class Policy:
    """A retention policy as the evaluation sees it (``tapes.models.RetentionPolicy``)."""

    kind: str
    keep_days: int = 0
    keep_last: int = 0
    daily: int = 0
    weekly: int = 0
    monthly: int = 0
    yearly: int = 0
    time_zone: str = "UTC"
    name: str = ""

    def describe(self) -> str:
        if self.kind == TIME:
            return f"keep {self.keep_days} day(s)"
        if self.kind == LAST:
            return f"keep the last {self.keep_last}"
        if self.kind == KEEP_FOREVER:
            return "keep forever"
        parts = [f"{n} {unit}" for n, unit in ((self.daily, "daily"), (self.weekly, "weekly"),
                                               (self.monthly, "monthly"), (self.yearly, "yearly"))
                 if n]
        return "GFS " + ", ".join(parts or ["nothing"]) + f" ({self.time_zone})"


@dataclass(frozen=True)
class SetInfo:
    """One backup set of one job."""

    id: int
    started_at: dt.datetime
    status: str
    level: str = FULL
    hold: bool = False

    @property
    def generation(self) -> bool:
        return self.status in RESTORABLE and self.level == FULL


@dataclass(frozen=True)
class Decision:
    """What the policy says about one set now.

    ``keep`` sets have ``expires_at``: when they would expire if no newer set came (``None``:
    no such date — kept until newer generations push them out, or forever).
    """

    set_id: int
    keep: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)
    expires_at: dt.datetime | None = None

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def evaluate(policy: Policy, sets: list[SetInfo], now: dt.datetime) -> dict[int, Decision]:
    """The decision for every set of one job at ``now``, keyed by set id."""
    generations = sorted((s for s in sets if s.generation),
                         key=lambda s: (s.started_at, s.id), reverse=True)
    keep: dict[int, list[str]] = {}
    expiry: dict[int, dt.datetime | None] = {}
    for set_id, reason, expires_at in _policy_keeps(policy, generations, now):
        keep.setdefault(set_id, []).append(reason)
        expiry[set_id] = _later(expiry.get(set_id, expires_at), expires_at)
    for set_id, reason in _always_kept(generations, sets):
        keep.setdefault(set_id, []).append(reason)
        expiry[set_id] = None
    return {s.id: _decide(s, keep.get(s.id), expiry.get(s.id), policy) for s in sets}


def _later(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return None if a is None or b is None else max(a, b)


def _decide(s: SetInfo, reasons: list[str] | None, expires_at, policy: Policy) -> Decision:
    if s.status == RUNNING:
        return Decision(s.id, True, ("still being written",), None)
    if reasons:
        return Decision(s.id, True, tuple(reasons), expires_at)
    if s.status == FAILED:
        return Decision(s.id, False, ("the set failed; a failed set is never a kept generation",))
    if not s.generation:
        return Decision(s.id, False, (f"a {s.level} set is not a generation this policy keeps",))
    return Decision(s.id, False, (f"{policy.describe()}: no longer kept",))


def _always_kept(generations: list[SetInfo], sets: list[SetInfo]):
    """Invariant 7 and holds, whatever the policy."""
    if generations:
        yield generations[0].id, "the last complete full backup is never expired automatically"
    clean = next((s for s in generations if s.status == COMPLETE), None)
    if clean is not None and clean is not generations[0]:
        yield clean.id, "the last full backup without warnings is never expired automatically"
    for s in sets:
        if s.hold and s.status != RUNNING:
            yield s.id, "held by an operator"


def _policy_keeps(policy: Policy, generations: list[SetInfo], now: dt.datetime):
    """(set id, reason, expires_at) for every keep the policy itself makes."""
    if policy.kind == KEEP_FOREVER:
        for s in generations:
            yield s.id, "keep forever", None
    elif policy.kind == TIME:
        span = dt.timedelta(days=policy.keep_days)
        for s in generations:
            if s.started_at + span > now:
                until = s.started_at + span
                yield s.id, f"kept {policy.keep_days} day(s) from its start", until
    elif policy.kind == LAST:
        for n, s in enumerate(generations[: policy.keep_last], start=1):
            yield s.id, f"one of the last {policy.keep_last} ({n} of {policy.keep_last})", None
    elif policy.kind == GFS:
        yield from _gfs_keeps(policy, generations)
    else:
        raise ValueError(f"unknown retention policy kind {policy.kind!r}")


PERIODS = ("daily", "weekly", "monthly", "yearly")


def period_key(period: str, when: dt.datetime, zone: ZoneInfo) -> tuple[int, ...]:
    """The period ``when`` falls in, read in ``zone`` (the GFS rule's buckets)."""
    local = when.astimezone(zone)
    if period == "daily":
        return (local.year, local.month, local.day)
    if period == "weekly":
        iso = local.isocalendar()
        return (iso.year, iso.week)
    if period == "monthly":
        return (local.year, local.month)
    if period == "yearly":
        return (local.year,)
    raise ValueError(period)


def period_text(period: str, key: tuple[int, ...]) -> str:
    if period == "daily":
        return "day %04d-%02d-%02d" % key
    if period == "weekly":
        return "week %04d-W%02d" % key
    if period == "monthly":
        return "month %04d-%02d" % key
    return "year %04d" % key


def _gfs_keeps(policy: Policy, generations: list[SetInfo]):
    zone = ZoneInfo(policy.time_zone)
    for period in PERIODS:
        count = getattr(policy, period)
        seen: list[tuple[int, ...]] = []
        for s in generations:  # newest first: the first met in a period is its newest
            if len(seen) >= count:
                break
            key = period_key(period, s.started_at, zone)
            if seen and seen[-1] == key:
                continue
            seen.append(key)
            yield (s.id, f"{period} {len(seen)} of {count}: newest full of "
                         f"{period_text(period, key)}", None)


# -- tapes: which may return to scratch ---------------------------------------------------


def protection_until(decisions: list[Decision]) -> dt.datetime | None:
    """How long a tape holding sets with these decisions stays protected: until its last kept
    set's expiry (``FOREVER`` when one has no date); ``None`` when nothing on it is kept."""
    kept = [d for d in decisions if d.keep]
    if not kept:
        return None
    return max(d.expires_at or FOREVER for d in kept)


def tape_reusable(decisions: list[Decision]) -> bool:
    """Late recycling: a tape may return to scratch only when every set on it has expired."""
    return all(not d.keep for d in decisions)


# -- preview: what expires when ------------------------------------------------------------


@dataclass(frozen=True)
class Expiry:
    """In the preview: set ``set_id`` expires at ``at`` because of ``reason``."""

    set_id: int
    at: dt.datetime
    reason: str


def preview(policy: Policy, sets: list[SetInfo], now: dt.datetime, *, days: int = 90,
            future_runs: list[dt.datetime] = ()) -> list[Expiry]:
    """What expires when over the next ``days``: by time alone, and as the assumed future
    runs (complete fulls at ``future_runs``) push older generations out. Sets the policy
    already lets go are listed at ``now``."""
    end = now + dt.timedelta(days=days)
    moments = sorted({now, *(r for r in future_runs if now < r <= end),
                      *_time_expiries(policy, sets, now, end)})
    known = list(sets)
    next_id = -1
    expired: dict[int, Expiry] = {}
    for moment in moments:
        for run in [r for r in future_runs if r == moment]:
            known.append(SetInfo(id=next_id, started_at=run, status=COMPLETE))
            next_id -= 1
        for set_id, decision in evaluate(policy, known, moment).items():
            if not decision.keep and set_id > 0 and set_id not in expired:
                expired[set_id] = Expiry(set_id, moment, decision.reason)
    return sorted(expired.values(), key=lambda e: (e.at, e.set_id))


def _time_expiries(policy: Policy, sets: list[SetInfo], now: dt.datetime, end: dt.datetime):
    if policy.kind != TIME:
        return []
    span = dt.timedelta(days=policy.keep_days)
    return [s.started_at + span for s in sets if now < s.started_at + span <= end]
