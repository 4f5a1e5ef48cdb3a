"""Pre- and post-scripts: the job's name and set id in their environment, a timeout, their
output in the log; a failing pre-script stops the job before anything is written."""

from __future__ import annotations

import pytest

from backups.context import JobContext
from backups.engine import backup_run
from backups.errors import JobError
from backups.models import BackupSet


def test_scripts_get_the_job_and_set_and_the_outcome(make_job, drive, tmp_path):
    (tmp_path / "f").write_text("x")
    log = tmp_path / "env.log"
    job = make_job(str(tmp_path / "f"),
                   pre_script=f'echo "pre $TAPEBACKUP_JOB $TAPEBACKUP_SET_ID" >> {log}; echo hi',
                   post_script=f'echo "post $TAPEBACKUP_SET_ID $TAPEBACKUP_STATUS" >> {log}')
    context = JobContext()
    backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=context)
    assert log.read_text().splitlines() == [f"pre home {backup_set.pk}",
                                            f"post {backup_set.pk} complete"]
    assert "pre-script: hi" in context.lines


def test_a_failing_pre_script_stops_the_job(make_job, drive, tmp_path):
    job = make_job(str(tmp_path), pre_script="echo cannot snapshot; exit 3",
                   post_script=f"echo $TAPEBACKUP_STATUS > {tmp_path}/outcome")
    context = JobContext()
    with pytest.raises(JobError, match="exited with status 3"):
        backup_run(job_id=job.pk, drive_id=drive.pk, context=context)
    backup_set = BackupSet.objects.get()
    assert backup_set.status == BackupSet.Status.FAILED and not backup_set.segments.exists()
    assert "pre-script: cannot snapshot" in context.lines
    assert (tmp_path / "outcome").read_text().strip() == "failed"


def test_a_hanging_pre_script_is_killed_at_its_timeout(make_job, drive, tmp_path):
    job = make_job(str(tmp_path), pre_script="sleep 30", script_timeout=1)
    with pytest.raises(JobError, match="did not finish within 1 seconds"):
        backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert BackupSet.objects.get().status == BackupSet.Status.FAILED
