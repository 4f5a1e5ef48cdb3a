"""Properties over random histories of sets and policies (hypothesis):

- no set that its policy keeps is ever expired;
- the last complete full of a job never expires;
- no tape with a kept set ever returns to scratch.

The pure evaluation is checked over whole simulated lives (runs, checks, more runs); the
same properties are then checked through the real retention check on the database, with
sets spread over tapes.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backups.context import JobContext
from backups.models import BackupJob, BackupSegment, BackupSet
from backups.retention import policy_for, retention_run
from tapes import retention_policy as rp
from tapes.media import _record_label
from tapes.models import MediaPool, MediaSet, MediaType, RetentionPolicy, Tape

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Lord_Howe"]

policies = st.one_of(
    st.builds(rp.Policy, kind=st.just(rp.TIME), keep_days=st.integers(1, 120)),
    st.builds(rp.Policy, kind=st.just(rp.LAST), keep_last=st.integers(1, 8)),
    st.builds(rp.Policy, kind=st.just(rp.GFS), daily=st.integers(0, 7),
              weekly=st.integers(0, 5), monthly=st.integers(0, 12), yearly=st.integers(0, 3),
              time_zone=st.sampled_from(ZONES)),
    st.just(rp.Policy(kind=rp.KEEP_FOREVER)),
)
statuses = st.sampled_from([rp.COMPLETE, rp.COMPLETE, rp.COMPLETE, rp.WARNINGS, rp.FAILED])
# A run: minutes after the previous one (missed runs give gaps of weeks), and how it ended.
runs = st.lists(st.tuples(st.integers(1, 60 * 24 * 40), statuses), min_size=1, max_size=40)
checks = st.lists(st.integers(0, 39), min_size=1, max_size=8)


def _history(steps) -> list[rp.SetInfo]:
    when, out = START, []
    for n, (minutes, status) in enumerate(steps, start=1):
        when += dt.timedelta(minutes=minutes)
        out.append(rp.SetInfo(id=n, started_at=when, status=status))
    return out


def _last_full(live: list[rp.SetInfo]) -> int | None:
    good = [s for s in live if s.generation]
    return max(good, key=lambda s: (s.started_at, s.id)).id if good else None


@settings(max_examples=300, deadline=None)
@given(policy=policies, steps=runs, check_after=checks)
def test_a_simulated_life_never_expires_what_is_kept(policy, steps, check_after):
    history = _history(steps)
    expired: set[int] = set()
    for upto in sorted(set(check_after)):
        present = history[: upto + 1]
        now = present[-1].started_at + dt.timedelta(hours=6)
        live = [s for s in present if s.id not in expired]
        decisions = rp.evaluate(policy, live, now)
        newly = {i for i, d in decisions.items() if not d.keep}
        own = {i for i, reason, _ in rp._policy_keeps(policy, sorted(
            (s for s in live if s.generation), key=lambda s: (s.started_at, s.id), reverse=True),
            now)}
        assert not newly & own  # kept by the policy: never expired
        last = _last_full(live)
        assert last is None or last not in newly  # invariant 7
        assert all(decisions[s.id].keep for s in live if s.status == rp.RUNNING)
        expired |= newly
        # and the last complete full of everything so far is still there
        assert _last_full(present) is None or _last_full(present) not in expired


# -- through the database --------------------------------------------------------------------------

tape_counts = st.integers(2, 5)
placements = st.lists(st.lists(st.integers(0, 4), min_size=1, max_size=2), min_size=40,
                      max_size=40)


def _policy_row(policy: rp.Policy) -> RetentionPolicy:
    return RetentionPolicy.objects.create(
        name=f"p-{policy.kind}", kind=policy.kind, keep_days=policy.keep_days or 1,
        keep_last=policy.keep_last, daily=policy.daily, weekly=policy.weekly,
        monthly=policy.monthly, yearly=policy.yearly, time_zone=policy.time_zone)


def _cast(policy: rp.Policy, tapes: int):
    lto8 = MediaType.objects.get(name="LTO-8")
    pool = MediaPool.objects.create(name="prop", media_type=lto8)
    job = BackupJob.objects.create(name="prop", sources=["/srv"], pool=pool,
                                   retention_policy=_policy_row(policy))
    media_set = MediaSet.objects.create(pool=pool, created_at=START, closed_at=START)
    cast = [Tape.objects.create(barcode=f"PRP{n:03d}L8", media_type=lto8, pool=pool,
                                media_set=media_set, sequence=n, status=Tape.Status.FULL)
            for n in range(tapes)]
    return job, media_set, cast


def _write(job, media_set, tapes, info: rp.SetInfo, where: list[int]) -> None:
    """A set as the engine leaves it: row, segments, its tapes protected (if it completed)."""
    expires = info.started_at + dt.timedelta(days=job.effective_retention_days)
    backup_set = BackupSet.objects.create(
        job=job, status=info.status, started_at=info.started_at, media_set=media_set,
        finished_at=info.started_at + dt.timedelta(minutes=5),
        expires_at=expires if info.status != rp.FAILED else None)
    for sequence, index in enumerate(dict.fromkeys(i % len(tapes) for i in where)):
        tape = Tape.objects.get(pk=tapes[index].pk)
        if tape.is_scratch:  # recycled: the engine claims and relabels it first
            fresh = MediaSet.objects.create(pool=job.pool, created_at=info.started_at,
                                            closed_at=info.started_at)
            _record_label(tape, job.pool, fresh, 0)
            Tape.objects.filter(pk=tape.pk).update(status=Tape.Status.FULL)
        BackupSegment.objects.create(backup_set=backup_set, tape=tape, sequence=sequence,
                                     data_file=1, index_file=2)
        if info.status != rp.FAILED:
            Tape.objects.filter(pk=tape.pk, protected_until__lt=expires).update(
                protected_until=expires)
            Tape.objects.filter(pk=tape.pk, protected_until__isnull=True).update(
                protected_until=expires)


def _check(job, now) -> None:
    live = list(BackupSet.objects.filter(job=job))
    gone = {s.pk for s in live if s.expired_at}
    generations = [s for s in live if s.restorable]
    if generations:
        last = max(generations, key=lambda s: (s.started_at, s.pk))
        assert last.pk not in gone, "the last complete full expired"
    for tape in Tape.objects.filter(pool__isnull=True, media_set__isnull=True):
        kept = BackupSet.objects.filter(segments__tape=tape, expired_at__isnull=True,
                                        overwritten_at__isnull=True)
        assert not kept.exists(), f"{tape.barcode} went to scratch with a kept set"
    holding = Tape.objects.filter(segments__backup_set__expired_at__isnull=True,
                                  segments__isnull=False).distinct()
    for tape in holding:
        assert tape.protected_until and tape.protected_until > now, (
            f"{tape.barcode} holds a kept set but is not protected")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(policy=policies, steps=runs, check_after=checks, tapes=tape_counts, where=placements)
def test_the_retention_check_keeps_what_the_policy_keeps(db, policy, steps, check_after,
                                                         tapes, where):
    history = _history(steps)
    with transaction.atomic():
        job, media_set, cast = _cast(policy, tapes)
        written = 0
        for upto in sorted(set(check_after)):
            for info in history[written: upto + 1]:
                _write(job, media_set, cast, info, where[info.id - 1])
            written = max(written, upto + 1)
            now = history[min(upto, len(history) - 1)].started_at + dt.timedelta(hours=6)
            live = [rp.SetInfo(s.pk, s.started_at, s.status) for s in
                    BackupSet.objects.filter(job=job, expired_at__isnull=True)]
            decisions = rp.evaluate(policy_for(job), live, now)
            retention_run(context=JobContext(), now=now, preview_days=0)
            for set_id, decision in decisions.items():
                expired = BackupSet.objects.get(pk=set_id).expired_at is not None
                assert expired == (not decision.keep), (set_id, decision)
            _check(job, now)
        transaction.set_rollback(True)
