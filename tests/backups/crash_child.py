"""Child process for the crash test, on its own SQLite file and virtual library (the test
kills it with SIGKILL, so it must not share the test's in-memory database).

``run SOURCE``: set up a library, pool and job, slow the drive down, and back up SOURCE.
``recover SOURCE``: recover interrupted sets, back up SOURCE again, print the sets as JSON.
"""

import json
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tapebackup.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402


def main(mode: str, source: str) -> None:
    from backups.context import JobContext
    from backups.engine import backup_run, backups_recover_interrupted
    from backups.models import BackupJob, BackupSet
    from tapes.models import Drive, MediaPool

    if mode == "run":
        from django.conf import settings

        from tapes.drivers.virtual import VirtualLibrary
        from tapes.vtl import vtl_create

        call_command("migrate", verbosity=0)
        library = vtl_create(name="crash", drives=1, slots=4, tapes=2, capacity=64 << 20)
        pool = MediaPool.objects.create(name="p", record_size=64 * 1024)
        job = BackupJob.objects.create(name="j", sources=[source], pool=pool)
        VirtualLibrary.open(settings.VTL_ROOT, "crash").inject_fault(
            drive=0, bytes_per_second=2 << 20)
        backup_run(job_id=job.pk, drive_id=Drive.objects.get(library=library).pk,
                   context=JobContext())
        return
    from django.conf import settings

    from tapes.drivers.virtual import VirtualLibrary

    VirtualLibrary.open(settings.VTL_ROOT, "crash").clear_faults()
    recovered = backups_recover_interrupted()
    job = BackupJob.objects.get(name="j")
    job.sources = [source]
    job.save()
    backup_run(job_id=job.pk, drive_id=Drive.objects.get().pk, context=JobContext())
    sets = [{"status": s.status, "error": s.error,
             "segments": [[g.tape.barcode, g.data_file] for g in s.segments.all()]}
            for s in BackupSet.objects.order_by("pk")]
    print(json.dumps({"recovered": recovered, "sets": sets}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
