"""The reader side of the engine: walk the source paths and read file data, in a thread,
into a bounded queue the tape writer drains.

The walk never follows symlinks, stays under the given paths and opens every directory
relative to its parent's descriptor, so paths longer than PATH_MAX (4096 bytes) work: a
long path is reached as ``/proc/self/fd/<dir fd>/<name>``. Problems with single files
(vanished, unreadable, changed while read) become warning records, never exceptions.

Queue items are lists of records (batched, so small files cost one queue operation per
few hundred files); each list holds at most ``BATCH_BYTES`` of data and the queue at most
``QUEUE_BATCHES`` lists, so memory stays bounded whatever the tree. Records:

``("F", entry, data_chunks, warning)``  a whole member (data already read, or none)
``("S", entry)`` + ``("C", chunk)``… + ``("E", warning)``  a large file, streamed
``("W", message)``  a warning about a path that is not stored
``None``  end of the walk; ``("X", exception)``  the reader itself failed
"""

from __future__ import annotations

import errno
import fnmatch
import os
import queue
import re
import stat
import threading
from collections.abc import Iterator

from tapes.format import Entry, EntryType, entry_from_path
from tapes.format.entry import group_name, user_name

CHUNK = 1 << 20
BATCH_BYTES = 2 << 20
BATCH_RECORDS = 512
QUEUE_BATCHES = 8
SHORT_PATH = 3800  # below PATH_MAX with room for the kernel; longer paths go via /proc
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_REGULAR = EntryType.REGULAR


class Excludes:
    """Glob patterns: one with a ``/`` matches the whole path, one without the name."""

    def __init__(self, patterns: list[str]):
        full = [fnmatch.translate(p) for p in patterns if "/" in p]
        names = [fnmatch.translate(p) for p in patterns if "/" not in p]
        self._full = re.compile("|".join(full)) if full else None
        self._names = re.compile("|".join(names)) if names else None

    def __bool__(self) -> bool:
        return self._full is not None or self._names is not None

    def __call__(self, path: bytes, name: bytes) -> bool:
        if self._names is not None and self._names.match(os.fsdecode(name)):
            return True
        return self._full is not None and bool(self._full.match(os.fsdecode(path)))


class SourceReader(threading.Thread):
    """Walks ``sources`` and feeds ``self.queue``; ``stop()`` ends it early."""

    def __init__(self, sources: list[bytes], excludes: Excludes):
        super().__init__(name="backup-reader", daemon=True)
        self.sources = sources
        self.excludes = excludes
        self.queue: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
        self._stopping = threading.Event()
        self._batch: list = []
        self._batch_bytes = 0
        self._hardlinks: dict = {}

    def stop(self) -> None:
        self._stopping.set()
        while True:  # unblock a put() waiting on a full queue
            try:
                self.queue.get_nowait()
            except queue.Empty:
                break

    def run(self) -> None:
        try:
            for source in self.sources:
                self._source(source)
            self._flush()
            self._put(None)
        except _Stopped:
            pass
        except BaseException as exc:  # handed to the writer, which fails the set
            try:
                self._flush()
                self._put(("X", exc))
            except _Stopped:
                pass

    # -- the queue ------------------------------------------------------------------------

    def _put(self, item) -> None:
        while True:
            if self._stopping.is_set():
                raise _Stopped
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _emit(self, record, size: int = 0) -> None:
        self._batch.append(record)
        self._batch_bytes += size
        if self._batch_bytes >= BATCH_BYTES or len(self._batch) >= BATCH_RECORDS:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            self._put(batch)

    def _warn(self, path: bytes, problem: str) -> None:
        self._emit(("W", f"{os.fsdecode(path)}: {problem}"))

    # -- the walk -------------------------------------------------------------------------

    def _source(self, source: bytes) -> None:
        source = os.path.normpath(source)
        parent, name = os.path.split(source)
        try:
            dir_fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            self._warn(source, _problem(exc))
            return
        try:
            self._path(dir_fd, source, name)
        finally:
            os.close(dir_fd)

    def _path(self, dir_fd: int, path: bytes, name: bytes) -> None:
        """One path (and, for a directory, everything under it)."""
        if self._stopping.is_set():
            raise _Stopped
        ops = path if len(path) < SHORT_PATH else b"/proc/self/fd/%d/%s" % (dir_fd, name)
        try:
            entry = entry_from_path(ops, path.lstrip(b"/") or b".", hardlinks=self._hardlinks)
        except ValueError:
            self._emit(("W", f"{os.fsdecode(path)}: a socket or other special file; not "
                              "stored"))
            return
        except OSError as exc:
            self._warn(path, _problem(exc))
            return
        if entry.type is EntryType.REGULAR:
            self._regular(ops, path, entry)
        else:
            self._emit(("F", entry, None, None))
        if entry.type is EntryType.DIRECTORY:
            self._directory(dir_fd, path, name)

    def _directory(self, parent_fd: int, path: bytes, name: bytes) -> None:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=parent_fd)
        except OSError as exc:
            self._warn(path, f"its contents could not be read ({_problem(exc)})")
            return
        try:
            try:
                with os.scandir(fd) as listing:  # names are str for a descriptor
                    children = sorted((os.fsencode(d.name), d) for d in listing)
            except OSError as exc:
                self._warn(path, f"its contents could not be read ({_problem(exc)})")
                return
            prefix = path.rstrip(b"/") + b"/"
            excludes = self.excludes if self.excludes else None
            for child, dirent in children:
                child_path = prefix + child
                if excludes is not None and excludes(child_path, child):
                    continue
                if dirent.is_file(follow_symlinks=False):
                    self._file(fd, child_path, child, dirent)
                else:
                    self._path(fd, child_path, child)
        finally:
            os.close(fd)

    def _file(self, dir_fd: int, path: bytes, name: bytes, dirent: os.DirEntry) -> None:
        """A child the directory listing says is a regular file: the common case, in as
        few system calls as the metadata allows (see ``_small_file``); anything unusual
        (hard links, holes, large or vanished-and-replaced files) takes ``_path``."""
        if self._stopping.is_set():
            raise _Stopped
        try:
            st = dirent.stat(follow_symlinks=False)  # one fstatat relative to dir_fd
        except OSError as exc:
            self._warn(path, _problem(exc))
            return
        if (stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_size <= CHUNK
                and st.st_blocks * 512 >= st.st_size):
            if self._small_file(dir_fd, path, name, st):
                return
        self._path(dir_fd, path, name)

    # -- file data ------------------------------------------------------------------------

    def _regular(self, ops: bytes, path: bytes, entry: Entry) -> None:
        try:
            fd = os.open(ops, _OPEN_FLAGS)
        except OSError as exc:
            self._warn(path, _problem(exc))
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self._warn(path, "it was replaced while being read; not stored")
                return
            if entry.stored_size <= CHUNK:
                self._small(fd, path, entry)
            else:
                self._streamed(fd, path, entry)
        finally:
            os.close(fd)

    def _small(self, fd: int, path: bytes, entry: Entry) -> None:
        try:
            chunks = list(_read_regions(fd, entry))
            warning = _changed(fd, entry)
        except OSError as exc:  # nothing is on tape yet: leave the file out
            self._warn(path, f"it could not be read ({_problem(exc)})")
            return
        self._emit(("F", entry, chunks, warning and f"{os.fsdecode(path)}: {warning}"),
                   entry.stored_size)

    def _small_file(self, dir_fd: int, path: bytes, name: bytes, st: os.stat_result) -> bool:
        """A small regular file without hard links or holes, by its ``lstat`` ``st``: open
        relative to its directory, list xattrs on the descriptor, one read, one fstat.
        The entry is what ``entry_from_path`` makes of ``st``. False (nothing emitted)
        when the file has xattrs or ACLs: ``_path`` reads those."""
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            self._warn(path, _problem(exc))
            return True
        try:
            try:
                if _has_xattrs(fd):
                    return False
                data = _read_small(fd, st.st_size)
                after = os.fstat(fd)
            except OSError as exc:  # nothing is on tape yet: leave the file out
                self._warn(path, f"it could not be read ({_problem(exc)})")
                return True
        finally:
            os.close(fd)
        if not stat.S_ISREG(after.st_mode):
            self._warn(path, "it was replaced while being read; not stored")
            return True
        entry = _small_entry(path.lstrip(b"/"), st)
        warning = _changed_since(entry, after)
        self._emit(("F", entry, [data], warning and f"{os.fsdecode(path)}: {warning}"),
                   st.st_size)
        return True

    def _streamed(self, fd: int, path: bytes, entry: Entry) -> None:
        self._emit(("S", entry))
        warning = None
        try:
            for chunk in _read_regions(fd, entry):
                if self._stopping.is_set():
                    raise _Stopped
                self._emit(("C", chunk), len(chunk))
            warning = _changed(fd, entry)
        except OSError as exc:
            warning = f"it could not be read to its end ({_problem(exc)}); the rest is zeros"
        self._emit(("E", warning and f"{os.fsdecode(path)}: {warning}"))


class _Stopped(Exception):
    pass


def _small_entry(arcname: bytes, st: os.stat_result) -> Entry:
    """``entry_from_path``'s entry for a regular file with one link, no holes and no
    xattrs, from its ``lstat`` result (the same fields, in the same way)."""
    uid, gid = st.st_uid, st.st_gid
    return Entry(arcname, _REGULAR, st.st_mode & 0o7777, uid, gid, user_name(uid),
                 group_name(gid), st.st_size, st.st_mtime_ns, st.st_atime_ns, st.st_ctime_ns)


def _has_xattrs(fd: int) -> bool:
    try:
        return bool(os.listxattr(fd))
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM):  # as entry_from_path: none
            return False
        raise


def _read_small(fd: int, size: int) -> bytes:
    """The whole file and one byte more if it grew (so the writer notices), usually in
    one read: a short read of a regular file means its end."""
    data = os.read(fd, size + 1)
    if len(data) >= size or not data:
        return data
    parts = [data]  # a short read before the end (network and FUSE file systems)
    left = size + 1 - len(data)
    while left > 0 and (chunk := os.read(fd, left)):
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _read_regions(fd: int, entry: Entry) -> Iterator[bytes]:
    """The file's data (for a sparse file its data regions), at most ``stored_size`` bytes
    and one byte more when the file grew, so the writer notices."""
    regions = entry.sparse if entry.sparse is not None else ((0, entry.size),)
    last = len(regions) - 1
    for i, (offset, length) in enumerate(regions):
        position = offset
        remaining = length + (1 if i == last and entry.sparse is None else 0)
        while remaining > 0:
            chunk = os.pread(fd, min(CHUNK, remaining), position)
            if not chunk:
                break
            position += len(chunk)
            remaining -= len(chunk)
            yield chunk


def _changed(fd: int, entry: Entry) -> str | None:
    return _changed_since(entry, os.fstat(fd))


def _changed_since(entry: Entry, st: os.stat_result) -> str | None:
    if st.st_size != entry.size or st.st_mtime_ns != entry.mtime_ns:
        return "it changed while being read; the stored copy may be inconsistent"
    return None


def _problem(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "it vanished before it could be read; not stored"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; not stored"
    return f"{os.strerror(exc.errno) if exc.errno else exc}; not stored"
