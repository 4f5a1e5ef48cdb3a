"""The on-disk store of one virtual cartridge: tape files of records, filemarks, a meta file.

Layout of ``<root>/cartridges/<BARCODE>/``::

    meta.json          barcode, capacity, flags, counters and the number of filemarks
    files/000000.tape  the record payloads of tape file 0, concatenated
    files/000000.idx   little-endian uint64 end offset (in .tape) of each record
    files/000001.tape  ...

Tape file ``k`` for ``k < filemarks`` ends with a filemark; tape file ``filemarks`` is the
open tail (possibly empty) and its end is the end of data. An uncompressed ``.tape`` file is
byte for byte what ``tar -b <record/512> -f /dev/nst0`` reads from that tape file, which is
what makes the disaster-recovery proofs possible. The store knows nothing about positions or
st semantics; ``virtual.VirtualTapeDrive`` adds those.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

from tapes.drivers.base import MediaError, TapeError

try:  # Installed with the project; without it only uncompressed cartridges work.
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None

INDEX_ENTRY = struct.Struct("<Q")
META_VERSION = 1


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON via a temp file, fsync and rename, so readers never see a half file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1, sort_keys=True)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_meta(barcode: str, **fields: Any) -> dict[str, Any]:
    """The meta.json of a blank cartridge; ``fields`` override the defaults."""
    meta: dict[str, Any] = {
        "version": META_VERSION,
        "barcode": barcode,
        "capacity": 1 << 30,
        "early_warning": 20 << 20,
        "worm": False,
        "write_protected": False,
        "cleaning": False,
        "cleaning_uses_left": 0,
        "compression": False,
        "counters": {"loads": 0, "bytes_written": 0, "bytes_read": 0},
        "filemarks": 0,
    }
    meta.update(fields)
    return meta


class CartridgeStore:
    """Record-level access to one cartridge directory, with O(1) positioning by index."""

    def __init__(self, path: Path):
        self.path = Path(path)
        meta_path = self.path / "meta.json"
        if not meta_path.is_file():
            raise TapeError(f"There is no cartridge at {self.path}.")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        (self.path / "files").mkdir(exist_ok=True)
        self._tail: tuple[int, Any, Any] | None = None  # (file number, data fd, index fd)
        self._readers: dict[int, tuple[int, int]] = {}
        self.counts: list[int] = []  # records per tape file 0..filemarks
        self.sizes: list[int] = []  # stored bytes per tape file
        self._load_layout()

    # -- creation -------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Path, meta: dict[str, Any]) -> CartridgeStore:
        """Create a blank cartridge directory; refuse to overwrite an existing one."""
        path = Path(path)
        if (path / "meta.json").exists():
            raise TapeError(f"Cartridge {meta['barcode']} already exists.")
        (path / "files").mkdir(parents=True, exist_ok=True)
        write_json_atomic(path / "meta.json", meta)
        return cls(path)

    # -- properties -----------------------------------------------------------------------

    @property
    def barcode(self) -> str:
        return self.meta["barcode"]

    @property
    def filemarks(self) -> int:
        return self.meta["filemarks"]

    @property
    def used(self) -> int:
        """Bytes on the medium; filemarks take no capacity, so they always fit."""
        return sum(self.sizes)

    @property
    def capacity(self) -> int:
        return self.meta["capacity"]

    @property
    def early_warning_point(self) -> int:
        return self.meta["capacity"] - self.meta["early_warning"]

    # -- paths ----------------------------------------------------------------------------

    def data_path(self, file_number: int) -> Path:
        return self.path / "files" / f"{file_number:06d}.tape"

    def index_path(self, file_number: int) -> Path:
        return self.path / "files" / f"{file_number:06d}.idx"

    # -- loading and repair ---------------------------------------------------------------

    def _load_layout(self) -> None:
        """Count records per tape file; repair a torn tail; drop files beyond the last one."""
        self._remove_files_after(self.filemarks)
        for number in range(self.filemarks + 1):
            count, size = self._repair_file(number)
            self.counts.append(count)
            self.sizes.append(size)

    def _remove_files_after(self, last: int) -> None:
        for entry in (self.path / "files").iterdir():
            stem = entry.stem
            if stem.isdigit() and int(stem) > last:
                entry.unlink()

    def _repair_file(self, number: int) -> tuple[int, int]:
        """Truncate index and data of one tape file to the last record that is complete.

        A crash between appending data and appending its index entry (or in the middle of
        either) leaves a torn tail; mhvtl does the same consistency check at load.
        """
        index, data = self.index_path(number), self.data_path(number)
        if not index.exists():
            if data.exists():
                data.unlink()
            return 0, 0
        index_size = index.stat().st_size
        data_size = data.stat().st_size if data.exists() else 0
        count = index_size // INDEX_ENTRY.size
        with open(index, "rb") as handle:
            while count:
                handle.seek((count - 1) * INDEX_ENTRY.size)
                (end,) = INDEX_ENTRY.unpack(handle.read(INDEX_ENTRY.size))
                if end <= data_size:
                    break
                count -= 1
            end = self._end_offset(handle, count)
        if index_size != count * INDEX_ENTRY.size:
            os.truncate(index, count * INDEX_ENTRY.size)
        if data_size != end:
            with open(data, "ab"):
                pass
            os.truncate(data, end)
        return count, end

    @staticmethod
    def _end_offset(handle: Any, count: int) -> int:
        if count == 0:
            return 0
        handle.seek((count - 1) * INDEX_ENTRY.size)
        return INDEX_ENTRY.unpack(handle.read(INDEX_ENTRY.size))[0]

    # -- reading --------------------------------------------------------------------------

    def _reader(self, number: int) -> tuple[int, int]:
        if number not in self._readers:
            if len(self._readers) > 8:  # bound open descriptors on long tapes
                self._close_readers()
            data = os.open(self.data_path(number), os.O_RDONLY)
            index = os.open(self.index_path(number), os.O_RDONLY)
            self._readers[number] = (data, index)
        return self._readers[number]

    def record_span(self, file_number: int, block: int) -> tuple[int, int]:
        """(start, end) offsets of a record in its .tape file, from two index entries."""
        _, index = self._reader(file_number)
        if block == 0:
            raw = os.pread(index, INDEX_ENTRY.size, 0)
            return 0, INDEX_ENTRY.unpack(raw)[0]
        raw = os.pread(index, 2 * INDEX_ENTRY.size, (block - 1) * INDEX_ENTRY.size)
        start, end = struct.unpack("<2Q", raw)
        return start, end

    def read_record(self, file_number: int, block: int) -> bytes:
        """The payload of one record, decompressed when the cartridge compresses."""
        start, end = self.record_span(file_number, block)
        data, _ = self._reader(file_number)
        stored = os.pread(data, end - start, start)
        if len(stored) != end - start:
            raise MediaError(f"Record {block} of tape file {file_number} is truncated on disk.")
        if self.meta["compression"]:
            return zstandard.ZstdDecompressor().decompress(stored)
        return stored

    # -- writing --------------------------------------------------------------------------

    def truncate(self, file_number: int, block: int) -> None:
        """Forget everything from (file_number, block) on: the write-in-the-middle rule."""
        self._close_tail()
        self._close_readers()
        self._truncate_file(file_number, block)
        self.meta["filemarks"] = file_number
        del self.counts[file_number + 1 :]
        del self.sizes[file_number + 1 :]
        self._remove_files_after(file_number)
        self.save_meta()

    def _truncate_file(self, number: int, block: int) -> None:
        index, data = self.index_path(number), self.data_path(number)
        end = 0
        if block and index.exists():
            end = self.record_span(number, block - 1)[1]
            self._close_readers()
        if index.exists():
            os.truncate(index, block * INDEX_ENTRY.size)
            os.truncate(data, end)
        self.counts[number] = block
        self.sizes[number] = end

    def stored_size(self, data: bytes) -> bytes:
        """What a record occupies on the medium (compressed like LTO hardware, if enabled)."""
        if self.meta["compression"]:
            return zstandard.ZstdCompressor(level=3).compress(data)
        return data

    def append_record(self, stored: bytes) -> None:
        """Append one already-encoded record to the tail file: data first, then its index.

        The index entry is written after the data so that a crash leaves at worst data with
        no index entry, which the repair at load drops.
        """
        number = self.filemarks
        _, data_fd, index_fd = self._tail_fds()
        os.write(data_fd, stored)
        end = self.sizes[number] + len(stored)
        os.write(index_fd, INDEX_ENTRY.pack(end))
        self.counts[number] += 1
        self.sizes[number] = end

    def _tail_fds(self) -> tuple[int, int, int]:
        number = self.filemarks
        if self._tail is None or self._tail[0] != number:
            self._close_tail()
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            data = os.open(self.data_path(number), flags, 0o644)
            index = os.open(self.index_path(number), flags, 0o644)
            self._tail = (number, data, index)
        return self._tail

    def add_filemarks(self, count: int) -> None:
        """Close the tail file with ``count`` filemarks; durable when this returns."""
        self.sync()
        for _ in range(count):
            self.meta["filemarks"] += 1
            self.counts.append(0)
            self.sizes.append(0)
        self.save_meta()

    def sync(self) -> None:
        """fsync the tail's data and index (the WRITE FILEMARKS guarantee)."""
        if self._tail is not None:
            os.fsync(self._tail[1])
            os.fsync(self._tail[2])
        self._close_tail()

    def save_meta(self) -> None:
        write_json_atomic(self.path / "meta.json", self.meta)

    # -- closing --------------------------------------------------------------------------

    def _close_tail(self) -> None:
        if self._tail is not None:
            os.close(self._tail[1])
            os.close(self._tail[2])
            self._tail = None

    def _close_readers(self) -> None:
        for data, index in self._readers.values():
            os.close(data)
            os.close(index)
        self._readers.clear()

    def close(self) -> None:
        """Flush, persist counters and release descriptors."""
        self.sync()
        self._close_readers()
        self.save_meta()
