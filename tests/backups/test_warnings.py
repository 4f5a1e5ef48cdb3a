"""Files that vanish, cannot be read or change while read are logged by name and counted;
the set is "complete with warnings", never aborted."""

from __future__ import annotations

import os

from backups.context import JobContext
from backups.engine import backup_run
from backups.models import BackupSet, CatalogEntry
from tests.backups.caps import without_dac_override

MiB = 1 << 20


class TamperingContext(JobContext):
    """At the first progress report the reader has listed ``sub`` and is reading
    ``sub/a_big`` (it is at most one bounded queue ahead of the writer): delete a file it
    has listed but not reached, and touch the one it is reading."""

    def __init__(self, source):
        super().__init__()
        self.source = source
        self.done = False

    def progress(self, **kwargs) -> None:
        super().progress(**kwargs)
        if not self.done:
            self.done = True
            os.unlink(self.source / "sub" / "vanish")
            os.utime(self.source / "sub" / "a_big", ns=(1, 1))


def test_vanished_unreadable_and_changing_files_make_warnings(make_job, drive, tmp_path):
    source = tmp_path / "src"
    (source / "sub" / "locked").mkdir(parents=True)
    (source / "sub" / "a_big").write_bytes(os.urandom(30 * MiB))
    (source / "sub" / "vanish").write_bytes(b"soon gone")
    (source / "sub" / "secret").write_bytes(b"root only")
    (source / "sub" / "fine").write_bytes(b"fine")
    (source / "sub" / "secret").chmod(0)
    (source / "sub" / "locked").chmod(0)
    job = make_job(str(source))
    context = TamperingContext(source)
    with without_dac_override():
        backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=context)

    assert backup_set.status == BackupSet.Status.WARNINGS
    assert backup_set.warnings == 4
    warnings = "\n".join(line for line in context.lines if line.startswith("WARNING"))
    assert f"{source}/sub/vanish: it vanished" in warnings
    assert f"{source}/sub/secret: permission denied" in warnings
    assert f"{source}/sub/locked: its contents could not be read" in warnings
    assert f"{source}/sub/a_big: it changed while being read" in warnings
    stored = set(CatalogEntry.objects.filter(backup_set=backup_set).values_list("name", flat=True))
    assert {"a_big", "fine", "locked"} <= stored and not {"vanish", "secret"} & stored
    assert backup_set.restorable
