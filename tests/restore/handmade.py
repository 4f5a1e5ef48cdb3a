"""Tapes written by hand with the format layer, as another installation (or an attacker)
would: label, one data file, its index. Not a mock: the same bytes any writer produces."""

from __future__ import annotations

import uuid

from tapes.drivers.virtual import VirtualTapeDrive
from tapes.format import Entry, EntryType, PaxWriter, TapeLabel, catalog_row, write_index, write_label

OTHER_INSTALLATION = "0badc0de-0000-4000-8000-000000000001"


def member(name: bytes, kind: EntryType = EntryType.REGULAR, data: bytes = b"", **fields):
    """An (Entry, data) pair; regular files get ``data`` as content."""
    entry = Entry(name=name, type=kind, size=len(data) if kind is EntryType.REGULAR else 0,
                  mtime_ns=1_650_000_000_000_000_000, uname="root", gname="root", **fields)
    return entry, data if kind is EntryType.REGULAR else None


def write_tape(vlib, barcode: str, members, *, job: str = "imported", record_size: int = 65536,
               installation_id: str = OTHER_INSTALLATION, set_id: int = 7,
               started_at: str = "2025-03-01T02:00:00+00:00") -> list:
    """Label the cartridge (it must sit in a slot) and write one set of ``members``;
    returns the MemberInfos."""
    media_set = str(uuid.uuid4())
    with VirtualTapeDrive.for_cartridge(vlib.cartridge_path(barcode)) as tape:
        write_label(tape, TapeLabel(barcode=barcode, pool="theirs", media_set_id=media_set,
                                    sequence=0, record_size=record_size,
                                    installation_id=installation_id))
        writer = PaxWriter(tape, record_size=record_size)
        rows, infos = [], []
        for entry, data in members:
            info = writer.add(entry, [data] if data is not None else None)
            rows.append(catalog_row(entry, info))
            infos.append(info)
        writer.close()
        tape.write_filemarks(1)
        record = {"set_id": set_id, "job": job, "level": "full", "started_at": started_at,
                  "finished_at": started_at.replace("02:00", "02:10"), "segment": 0,
                  "media_set_id": media_set, "tape_sequence": 0, "data_file": 1,
                  "record_size": record_size, "continues": False, "continued": False,
                  "sources": ["/srv"]}
        write_index(tape, record, rows, record_size=record_size)
    return infos
