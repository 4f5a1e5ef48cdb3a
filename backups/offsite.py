"""Which tapes go off-site and which come back: chosen from backup sets, moved by
``tapes.offsite``.

- Send (default): for each job, the media set of its newest complete full — e.g. the last
  monthly full of a monthly job — its tapes that are still in a library.
- Recall: tapes in the vault whose sets have all expired (to reuse them), and the tapes a
  restore of a given set needs.
"""

from __future__ import annotations

from django.utils import timezone

from backups.models import BackupJob, BackupSet
from tapes.models import Tape


def newest_full(job: BackupJob) -> BackupSet | None:
    return (BackupSet.objects.filter(job=job, status__in=BackupSet.RESTORABLE, level="full",
                                     expired_at__isnull=True)
            .order_by("-started_at", "-pk").first())


def offsite_candidates(*, job: BackupJob | None = None, pool=None,
                       backup_set: BackupSet | None = None) -> list[Tape]:
    """Tapes to send off-site, still in a library (see the module's rule)."""
    in_library = Tape.objects.filter(place=Tape.Place.LIBRARY).exclude(media_type__kind="cleaning")
    if backup_set is not None:
        return list(in_library.filter(segments__backup_set=backup_set).distinct().order_by("barcode"))
    if pool is not None:
        kept = in_library.filter(pool=pool, segments__backup_set__expired_at__isnull=True)
        return list(kept.distinct().order_by("barcode"))
    jobs = [job] if job is not None else list(BackupJob.objects.all())
    media_sets = {s.media_set_id for s in map(newest_full, jobs) if s and s.media_set_id}
    return list(in_library.filter(media_set__in=media_sets).order_by("barcode"))


def recall_candidates(*, vault: str, expired: bool = True,
                      backup_set: BackupSet | None = None) -> list[Tape]:
    """Tapes in ``vault`` to bring back: those with nothing kept on them (``expired``), and
    those holding ``backup_set`` (for a restore)."""
    now = timezone.now()
    there = Tape.objects.filter(place__in=[Tape.Place.VAULT], vault=vault)
    chosen: dict[int, Tape] = {}
    if expired:
        for tape in there:
            if not (tape.protected_until and tape.protected_until > now) and not BackupSet.objects.filter(
                    segments__tape=tape, expired_at__isnull=True, overwritten_at__isnull=True).exists():
                chosen[tape.pk] = tape
    if backup_set is not None:
        for tape in there.filter(segments__backup_set=backup_set):
            chosen[tape.pk] = tape
    return sorted(chosen.values(), key=lambda t: t.barcode)
