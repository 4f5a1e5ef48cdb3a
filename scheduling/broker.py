"""``TapeORM``: django-q2's ORM broker with per-task leases, no prefetch and a database
heartbeat (reference/django-q2.md §8, experiments E6, E6b, E16b).

- Lease: the task's own timeout plus a margin (TAPEBACKUP_LEASE_MARGIN), so a 48-hour backup
  is not handed out again after the cluster's `retry`; a short job's lease stays short.
- No prefetch: a cluster leases a task only when a worker is free for it: it never holds
  more unacknowledged tasks than it has workers, so nothing ticks down a lease while waiting
  in memory behind a long job (the stock broker leases ``queue_limit + 1`` more, E2).
- Heartbeat: the sentinel calls ``set_stat`` every guard cycle; every few seconds we also
  upsert a ``ClusterHeartbeat`` row, which the watchdog and health check read from any host
  (django-q2's Stat lives in a cache with a 3 s TTL).

The run claim (``scheduling.services.run_claim``) still guards against duplicates: this
broker makes them rare, the claim makes them harmless.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta

from django.db import DatabaseError
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf

from scheduling import conf

logger = logging.getLogger(__name__)


class TapeORM(ORM):
    def timeout(self, task):
        seconds = task.task.get("timeout") or Conf.TIMEOUT
        if not seconds:
            return super().timeout(task)
        return timezone.now() + timedelta(seconds=int(seconds) + conf.lease_margin_seconds())

    def dequeue(self):
        outstanding = self._still_outstanding()
        room = max(1, Conf.WORKERS or 1) - len(outstanding)
        if room <= 0:
            time.sleep(Conf.POLL)
            return None
        now = timezone.now()
        candidates = list(self.get_connection().filter(key=self.list_key, lock__lt=now)
                          .order_by("id")[:room])
        taken = []
        for task in candidates:
            # Compare-and-swap on the lock, as the stock broker: another cluster may win.
            if self.get_connection().filter(id=task.id, lock=task.lock).update(
                    lock=self.timeout(task)):
                taken.append((task.pk, task.payload))
        if not taken:
            time.sleep(Conf.POLL)
            return None
        self._outstanding = outstanding | {pk for pk, _ in taken}
        return taken

    def _still_outstanding(self) -> set[int]:
        """Tasks this cluster leased that are not acknowledged (deleted) yet."""
        out = getattr(self, "_outstanding", set())
        if out:
            out = set(self.get_connection().filter(pk__in=out, lock__gt=timezone.now())
                      .values_list("pk", flat=True))
            self._outstanding = out
        return out

    def set_stat(self, key: str, value: str, timeout: int):
        self._beat()
        return super().set_stat(key, value, timeout)

    def _beat(self) -> None:
        now = time.monotonic()
        if now - getattr(self, "_last_beat", 0.0) < conf.cluster_heartbeat_seconds():
            return
        self._last_beat = now
        from scheduling.models import ClusterHeartbeat

        try:
            ClusterHeartbeat.objects.update_or_create(
                cluster=self.list_key or Conf.CLUSTER_NAME, host=socket.gethostname(),
                pid=os.getppid() if _is_sentinel() else os.getpid(),
                defaults={"last_seen": timezone.now()},
            )
        except DatabaseError:
            logger.exception("Could not write the cluster heartbeat")


def _is_sentinel() -> bool:
    """The sentinel is a child of the qcluster main process; report the main pid."""
    import multiprocessing

    return multiprocessing.parent_process() is not None
