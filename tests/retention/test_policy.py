"""The pure evaluation: each kind of policy, the GFS periods at month ends, leap days, time
zones and DST, gaps of missed runs, failed and partial sets, invariant 7, and the preview."""

from __future__ import annotations

import datetime as dt

import pytest

from tapes.retention_policy import (
    FOREVER, GFS, KEEP_FOREVER, LAST, TIME, Decision, Policy, SetInfo, evaluate, period_key,
    preview, protection_until, tape_reusable,
)
from tests.retention.helpers import UTC, at, kept, sets
from zoneinfo import ZoneInfo

NOW = at("2024-06-30T12:00:00Z")


def daily_history(start: str, days: int, hour: int = 1) -> list[SetInfo]:
    first = at(start).replace(hour=hour)
    return [SetInfo(id=n + 1, started_at=first + dt.timedelta(days=n), status="complete")
            for n in range(days)]


# -- time span ---------------------------------------------------------------------------------


def test_time_span_keeps_sets_until_their_start_plus_the_span():
    history = sets((1, "2024-05-01T00:00Z"), (2, "2024-06-01T00:00Z"), (3, "2024-06-29T00:00Z"))
    decisions = evaluate(Policy(kind=TIME, keep_days=30), history, NOW)
    assert kept(decisions) == [2, 3]
    assert decisions[2].expires_at == at("2024-07-01T00:00Z")
    assert "no longer kept" in decisions[1].reason


def test_the_last_complete_full_never_expires_even_when_the_span_is_over():
    history = sets((1, "2023-01-01T00:00Z"), (2, "2023-02-01T00:00Z"))
    decisions = evaluate(Policy(kind=TIME, keep_days=7), history, NOW)
    assert kept(decisions) == [2]
    assert decisions[2].expires_at is None
    assert "last complete full" in decisions[2].reason


def test_the_last_clean_full_is_kept_besides_a_newer_one_with_warnings():
    history = sets((1, "2023-01-01T00:00Z"), (2, "2023-02-01T00:00Z"),
                   (3, "2023-03-01T00:00Z", "warnings"))
    assert kept(evaluate(Policy(kind=TIME, keep_days=7), history, NOW)) == [2, 3]


def test_failed_sets_expire_at_once_and_never_count_as_the_last_full():
    history = sets((1, "2024-01-01T00:00Z"), (2, "2024-06-29T00:00Z", "failed"))
    decisions = evaluate(Policy(kind=TIME, keep_days=7), history, NOW)
    assert kept(decisions) == [1]  # the failed newer run does not replace the good one
    assert "failed" in decisions[2].reason


def test_a_running_set_is_never_touched():
    history = sets((1, "2024-06-29T00:00Z"), (2, "2024-06-30T11:00Z", "running"))
    decisions = evaluate(Policy(kind=LAST, keep_last=1), history, NOW)
    assert kept(decisions) == [1, 2] and decisions[2].reason == "still being written"


def test_a_held_set_is_kept_whatever_the_policy():
    history = [SetInfo(1, at("2020-01-01T00:00Z"), "complete", hold=True),
               *sets((2, "2024-06-01T00:00Z"))]
    assert kept(evaluate(Policy(kind=LAST, keep_last=1), history, NOW)) == [1, 2]


# -- keep the last N, forever ------------------------------------------------------------------


def test_keep_last_counts_only_generations():
    history = sets((1, "2024-06-01T00:00Z"), (2, "2024-06-02T00:00Z"),
                   (3, "2024-06-03T00:00Z", "failed"), (4, "2024-06-04T00:00Z"),
                   (5, "2024-06-05T00:00Z", "failed"))
    assert kept(evaluate(Policy(kind=LAST, keep_last=2), history, NOW)) == [2, 4]


def test_keep_forever_keeps_every_generation_but_not_failed_sets():
    history = sets((1, "2001-01-01T00:00Z"), (2, "2024-06-02T00:00Z", "failed"))
    assert kept(evaluate(Policy(kind=KEEP_FOREVER), history, NOW)) == [1]


# -- GFS ------------------------------------------------------------------------------------------


def test_gfs_daily_keeps_the_newest_set_of_each_day():
    history = sets((1, "2024-06-28T01:00Z"), (2, "2024-06-28T13:00Z"), (3, "2024-06-29T01:00Z"),
                   (4, "2024-06-30T01:00Z"), (5, "2024-06-30T02:00Z"))
    assert kept(evaluate(Policy(kind=GFS, daily=3), history, NOW)) == [2, 3, 5]


def test_gfs_gaps_of_missed_runs_are_skipped_not_counted():
    history = sets((1, "2024-05-01T01:00Z"), (2, "2024-05-02T01:00Z"), (3, "2024-06-30T01:00Z"))
    # two months without a run: still three days with a set are kept
    assert kept(evaluate(Policy(kind=GFS, daily=3), history, NOW)) == [1, 2, 3]


def test_gfs_monthly_at_month_ends_and_leap_day():
    history = sets((1, "2024-01-31T23:59Z"), (2, "2024-02-01T00:00Z"), (3, "2024-02-29T12:00Z"),
                   (4, "2024-03-01T00:00Z"), (5, "2024-03-31T23:59Z"))
    assert kept(evaluate(Policy(kind=GFS, monthly=3), history, NOW)) == [1, 3, 5]


def test_gfs_weekly_uses_iso_weeks_across_the_new_year():
    # 2024-12-30 (Mon) belongs to ISO week 2025-W01, like 2025-01-05 (Sun).
    zone = ZoneInfo("UTC")
    assert period_key("weekly", at("2024-12-30T10:00Z"), zone) == (2025, 1)
    assert period_key("weekly", at("2024-12-29T10:00Z"), zone) == (2024, 52)
    history = sets((1, "2024-12-29T10:00Z"), (2, "2024-12-30T10:00Z"), (3, "2025-01-05T10:00Z"))
    assert kept(evaluate(Policy(kind=GFS, weekly=2), history, at("2025-01-06T00:00Z"))) == [1, 3]


def test_gfs_yearly_keeps_the_newest_of_each_year():
    history = sets((1, "2022-12-31T10:00Z"), (2, "2023-06-01T10:00Z"), (3, "2023-12-31T10:00Z"),
                   (4, "2024-01-01T10:00Z"))
    assert kept(evaluate(Policy(kind=GFS, yearly=2), history, NOW)) == [3, 4]


def test_gfs_periods_are_read_in_the_policy_time_zone():
    # 23:30 UTC on 31 January is already February in Tokyo (UTC+9).
    history = sets((1, "2024-01-15T00:00Z"), (2, "2024-01-31T23:30Z"), (3, "2024-02-10T00:00Z"))
    utc = Policy(kind=GFS, monthly=2, time_zone="UTC")
    tokyo = Policy(kind=GFS, monthly=2, time_zone="Asia/Tokyo")
    assert kept(evaluate(utc, history, NOW)) == [2, 3]
    assert kept(evaluate(tokyo, history, NOW)) == [1, 3]


def test_gfs_daily_across_dst_changes_counts_local_days():
    # New York, DST ends 2024-11-03 (25-hour day) and starts 2024-03-10 (23-hour day).
    ny = ZoneInfo("America/New_York")
    fall = [dt.datetime(2024, 11, 3, 0, 30, tzinfo=ny), dt.datetime(2024, 11, 3, 23, 30, tzinfo=ny),
            dt.datetime(2024, 11, 4, 0, 30, tzinfo=ny)]
    history = [SetInfo(n + 1, t.astimezone(UTC), "complete") for n, t in enumerate(fall)]
    policy = Policy(kind=GFS, daily=2, time_zone="America/New_York")
    assert kept(evaluate(policy, history, at("2024-11-05T00:00Z"))) == [2, 3]
    spring = [dt.datetime(2024, 3, 10, 0, 30, tzinfo=ny), dt.datetime(2024, 3, 10, 3, 30, tzinfo=ny),
              dt.datetime(2024, 3, 11, 0, 30, tzinfo=ny)]
    history = [SetInfo(n + 1, t.astimezone(UTC), "complete") for n, t in enumerate(spring)]
    assert kept(evaluate(policy, history, at("2024-03-12T00:00Z"))) == [2, 3]


def test_gfs_rules_combine_and_explain_themselves():
    history = daily_history("2024-01-01T00:00Z", 182)  # every day, Jan to June
    decisions = evaluate(Policy(kind=GFS, daily=7, weekly=4, monthly=6, yearly=1), history, NOW)
    ids = kept(decisions)
    assert ids[-7:] == list(range(176, 183))  # the last 7 days
    assert len(ids) < 7 + 4 + 6 + 1
    newest = decisions[182]
    assert any(r.startswith("daily 1 of 7") for r in newest.reasons)
    assert any(r.startswith("yearly 1 of 1: newest full of year 2024") for r in newest.reasons)
    january = decisions[31]
    assert january.keep and "month 2024-01" in january.reason


def test_a_failed_set_never_represents_a_period():
    history = sets((1, "2024-06-29T01:00Z"), (2, "2024-06-30T01:00Z"), (3, "2024-06-30T05:00Z", "failed"))
    decisions = evaluate(Policy(kind=GFS, daily=1), history, NOW)
    assert kept(decisions) == [2]


# -- tapes ----------------------------------------------------------------------------------------


def test_a_tape_is_protected_by_its_longest_kept_set():
    a = Decision(1, True, ("x",), at("2024-07-01T00:00Z"))
    b = Decision(2, True, ("y",), at("2024-08-01T00:00Z"))
    gone = Decision(3, False, ("z",))
    assert protection_until([a, b, gone]) == b.expires_at
    assert protection_until([a, Decision(4, True, ("last",), None)]) == FOREVER
    assert protection_until([gone]) is None
    assert not tape_reusable([a, gone]) and tape_reusable([gone])


# -- preview ----------------------------------------------------------------------------------------


def test_preview_lists_time_expiries_in_order():
    history = sets((1, "2024-05-15T00:00Z"), (2, "2024-06-10T00:00Z"), (3, "2024-06-20T00:00Z"))
    rows = preview(Policy(kind=TIME, keep_days=30), history, NOW, days=90)
    assert [(r.set_id, r.at) for r in rows] == [
        (1, NOW), (2, at("2024-07-10T00:00Z"))]  # 3 is the last full: never by time alone


def test_preview_shows_sets_pushed_out_by_future_runs():
    history = sets((1, "2024-06-28T00:00Z"), (2, "2024-06-29T00:00Z"))
    runs = [at("2024-07-01T00:00Z"), at("2024-07-02T00:00Z")]
    rows = preview(Policy(kind=LAST, keep_last=2), history, NOW, days=90, future_runs=runs)
    assert [(r.set_id, r.at) for r in rows] == [(1, runs[0]), (2, runs[1])]
    assert preview(Policy(kind=LAST, keep_last=2), history, NOW, days=90) == []


@pytest.mark.parametrize("kind", [TIME, LAST, GFS, KEEP_FOREVER])
def test_every_policy_describes_itself(kind):
    assert Policy(kind=kind, keep_days=3, keep_last=2, daily=1).describe()
