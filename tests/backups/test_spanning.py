"""A backup larger than a cartridge continues on the media set's next tapes: each tape has
its label, a data file and an index file, and GNU ``tar -M`` reads the set across them."""

from __future__ import annotations

import os
import subprocess

from backups.context import JobContext
from backups.engine import backup_run
from backups.models import CatalogEntry
from tapes.drivers.virtual import VirtualTapeDrive
from tapes.format import read_index, read_label
from tapes.models import Tape
from tests.backups.conftest import CAPACITY, tape_file
from tests.trees import sha256_file


def test_a_set_spans_three_tapes_and_tar_reads_it_back(make_job, drive, vlib, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for n in range(5):  # 2.6 cartridges' worth (each loses 2 MiB to early warning)
        (source / f"part{n}.bin").write_bytes(os.urandom(int(CAPACITY * 0.52)))
    job = make_job(str(source))
    backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())

    segments = list(backup_set.segments.select_related("tape").order_by("sequence"))
    assert len(segments) == 3
    volumes = []
    for n, segment in enumerate(segments):
        assert (segment.data_file, segment.index_file) == (1, 2)
        with VirtualTapeDrive.for_cartridge(vlib.cartridge_path(segment.tape.barcode)) as tape:
            label = read_label(tape)
            assert (label.barcode, label.sequence) == (segment.tape.barcode, n)
            tape.locate(segment.index_file)
            record, rows = read_index(tape)
            assert record["set_id"] == backup_set.pk and record["segment"] == n
            assert all(row["volume"] <= n for row in rows)
        volumes.append(tape_file(vlib, segment.tape.barcode, segment.data_file))
    tapes = Tape.objects.filter(segments__backup_set=backup_set).order_by("sequence")
    assert [t.status for t in tapes] == ["full", "full", "writable"]
    assert all(t.protected_until == backup_set.expires_at for t in tapes)
    split = CatalogEntry.objects.filter(backup_set=backup_set, volumes__gt=1)
    assert split.count() >= 2

    out = tmp_path / "out"
    out.mkdir()
    args = ["tar", "-M", "-x", "-C", str(out)]
    for volume in volumes:
        args += ["-f", str(volume)]
    subprocess.run(args, check=True, stdin=subprocess.DEVNULL)
    restored = out / str(source).lstrip("/")
    for n in range(5):
        assert sha256_file(restored / f"part{n}.bin") == sha256_file(source / f"part{n}.bin")
