"""A file of concatenated records — exactly what GNU tar reads — standing in for a tape
file until tests go through the virtual tape library; not a mock of our code."""

from __future__ import annotations


class FileSink:
    """Appends each record to ``path``; reports early warning after ``early_warning_after``
    records (the write that crosses it succeeds and returns True, as st does), and then
    refuses every further record, so a writer that relies on writing past it fails."""

    def __init__(self, path, *, early_warning_after: int | None = None):
        self.path = path
        self.file = open(path, "wb")
        self.records = 0
        self.early_warning_after = early_warning_after
        self.sizes: set[int] = set()

    def write_record(self, data) -> bool:
        if self.early_warning_after is not None and self.records >= self.early_warning_after:
            raise AssertionError("wrote past early warning")
        self.file.write(data)
        self.records += 1
        self.sizes.add(len(data))
        self.file.flush()
        return self.early_warning_after is not None and self.records >= self.early_warning_after

    def write_filemarks(self, count: int = 1) -> None:
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class FileSource:
    """Reads a file of concatenated records back as one tape file: ``b""`` at its end."""

    def __init__(self, path, record_size: int):
        self.data = open(path, "rb").read()
        self.record_size = record_size
        self.pos = 0

    def read_record(self, max_size: int) -> bytes:
        if self.pos >= len(self.data):
            return b""
        record = self.data[self.pos : self.pos + self.record_size]
        self.pos += len(record)
        return record


def archive_tree(root: bytes, sinks, *, record_size: int = 262144, base: bytes | None = None):
    """Write every path under ``root`` (sorted, directories first) with PaxWriter onto the
    first sink, switching to the next ones at early warning. Returns (infos, summary)."""
    import os

    from tapes.format import PaxWriter, entry_from_path, iter_file_data
    from tapes.format.entry import EntryType

    sinks = list(sinks)
    current = iter(sinks[1:])
    writer = PaxWriter(sinks[0], record_size=record_size,
                       on_volume_full=(lambda: next(current)) if len(sinks) > 1 else None)
    base = os.path.dirname(root) if base is None else base
    hardlinks: dict = {}
    infos = []
    for path in walk(root):
        entry = entry_from_path(path, os.path.relpath(path, base), hardlinks=hardlinks)
        data = iter_file_data(path, entry) if entry.type is EntryType.REGULAR else None
        infos.append((entry, writer.add(entry, data)))
    summary = writer.close()
    for sink in sinks:
        sink.close()
    return infos, summary


def walk(root: bytes):
    """Paths under root, root first, each directory before its contents, sorted."""
    import os

    yield root
    for name in sorted(os.listdir(root)):
        path = os.path.join(root, name)
        if os.path.isdir(path) and not os.path.islink(path):
            yield from walk(path)
        else:
            yield path


class MemoryTape:
    """A minimal tape of records and filemarks in memory for label/index round trips:
    ``None`` in ``items`` is a filemark; reading past the end raises EndOfData."""

    def __init__(self):
        self.items: list = []
        self.pos = 0

    def rewind(self):
        self.pos = 0

    def write_record(self, data) -> bool:
        del self.items[self.pos :]
        self.items.append(bytes(data))
        self.pos += 1
        return False

    def write_filemarks(self, count: int = 1) -> None:
        del self.items[self.pos :]
        self.items.extend([None] * count)
        self.pos += count

    def read_record(self, max_size: int) -> bytes:
        from tapes.drivers.base import EndOfData

        if self.pos >= len(self.items):
            raise EndOfData("end of data")
        item = self.items[self.pos]
        self.pos += 1
        return b"" if item is None else item
