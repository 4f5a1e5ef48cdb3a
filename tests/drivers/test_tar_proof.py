"""The disaster-recovery proof: a pax archive written record by record through the virtual
drive is a plain file GNU tar lists and extracts (DESIGN.md §4)."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

RECORD = 256 * 1024  # what `tar -b 512` reads and writes


def pax_records(members: dict[str, bytes]) -> list[bytes]:
    """A pax archive cut into 256 KiB records, the last one padded with zeros."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            info.mtime = 1_700_000_000
            info.pax_headers = {"comment": "tapebackup test"}
            archive.addfile(info, io.BytesIO(payload))
    data = buffer.getvalue()
    data += b"\0" * (-len(data) % RECORD)
    return [data[i : i + RECORD] for i in range(0, len(data), RECORD)]


@pytest.fixture
def members() -> dict[str, bytes]:
    return {
        "etc/hosts": b"127.0.0.1 localhost\n",
        "data/random.bin": os.urandom(700_000),
        "data/üñí.txt": "unicode name\n".encode(),
    }


def test_gnu_tar_reads_a_tape_file_directly(library, virtual_drive, members, tmp_path) -> None:
    virtual_drive.write_record(b"label" * 100)  # tape file 0 stands in for the label
    virtual_drive.write_filemarks(1)
    for chunk in pax_records(members):
        virtual_drive.write_record(chunk)
    virtual_drive.write_filemarks(1)
    tape_file = library.cartridge_path("LA0001L8") / "files" / "000001.tape"

    listing = subprocess.run(["tar", "-tvf", str(tape_file)], capture_output=True, text=True,
                             check=True).stdout
    for name in members:
        assert name in listing
    out = tmp_path / "restore"
    out.mkdir()
    subprocess.run(["tar", "-b", "512", "-xf", str(tape_file), "-C", str(out)], check=True)
    for name, payload in members.items():
        assert (out / name).read_bytes() == payload
    assert Path(tape_file).stat().st_size % RECORD == 0
