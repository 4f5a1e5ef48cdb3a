"""The reader side of the engine: walk the source paths and read file data, in a process
of its own, feeding the tape writer batches of records over a socket.

Why a process: reader and writer in one interpreter share one lock, and the reader's six
system calls per small file hand it back and forth with the writer (both at about half
speed); the second core also serves PostgreSQL's COPY. ``SourceReader`` (the engine's side)
starts ``python -m backups.source`` with one end of a Unix socket pair; the child
(``_Walker``) walks and reads, and sends pickled lists of records.

The walk never follows symlinks, stays under the given paths and opens every directory
relative to its parent's descriptor, so paths longer than PATH_MAX (4096 bytes) work: a
long path is reached as ``/proc/self/fd/<dir fd>/<name>`` (the child's). Problems with
single files (vanished, unreadable, changed while read) become warning records, never
exceptions.

A large file is not copied through the socket: the child opens it (as safely as any other
file) and passes the open descriptor with its ``("S", entry, path)`` record; the engine's
side reads it there (``SourceReader.records`` turns it into ``C``/``E`` records) and
acknowledges it, and the child waits for that before it walks on — so the walk is never
more than one large file and a socket buffer ahead of the writer, and a file listed but
not reached yet is read after the writer has caught up. A batch holds at most
``BATCH_BYTES`` of data, so memory stays bounded whatever the tree. Records, as the
engine sees them:

``("R", name, mode, uid, gid, uname, gname, size, mtime_ns, atime_ns, ctime_ns, blob,
warning)``  most small files: a regular file's fields (as ``entry_from_path`` would give
them) and its headers, data and padding (``tapes.format.pax.plain_member``), as they come
from the socket — the engine appends and catalogues them without building objects
``("P", prepared_member, warning)``  a member with its headers built, data and padding
appended (``tapes.format.pax.prepare_member``): directories, links, devices, small files
with long or not ASCII names
``("F", entry, data_chunks, warning)``  a whole member whose data the writer checks
``("S", entry)`` + ``("C", chunk)``… + ``("E", warning)``  a large file, streamed
``("W", message)``  a warning about a path that is not stored
``("X", SourceError)``  the reader failed (or its process ended); nothing follows
"""

from __future__ import annotations

import errno
import fnmatch
import io
import os
import pickle
import re
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

from tapes.format import Entry, EntryType, entry_from_path
from tapes.format.entry import owner_names
from tapes.format.pax import PreparedMember, plain_member, prepare_member

CHUNK = 1 << 20
BATCH_BYTES = 512 << 10  # a batch's buffers stay small enough to be reused
BATCH_RECORDS = 512
SHORT_PATH = 3800  # below PATH_MAX with room for the kernel; longer paths go via /proc
SOCKET_BUFFER = 4 << 20  # how far (in bytes of records) the walk may run ahead
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_REGULAR = EntryType.REGULAR
_S_ISREG = stat.S_ISREG
_FRAME = struct.Struct("<I")  # each frame: its length, then a pickled list of records
_ACK = b"\x01"  # the engine's side has read a passed descriptor to its end
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


class SourceError(Exception):
    """The reader failed, or its process ended before the walk did. One sentence."""


class Excludes:
    """Glob patterns: one with a ``/`` matches the whole path, one without the name."""

    def __init__(self, patterns: list[str]):
        self.patterns = list(patterns)
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


class SourceReader:
    """The engine's side of the reader process: ``start()``, then ``records()`` until it
    ends; ``stop()`` (always, in a ``finally``) ends the process. ``wait_seconds`` is the
    time the caller waited for records (the drive idle)."""

    def __init__(self, sources: list[bytes], excludes: Excludes):
        self.sources = sources
        self.excludes = excludes
        self.wait_seconds = 0.0
        self._process: subprocess.Popen | None = None
        self._socket: socket.socket | None = None
        self._open_fd: int | None = None  # a passed descriptor being read

    def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
            self._process = subprocess.Popen(
                [sys.executable, "-m", "backups.source", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env,
                cwd=_PACKAGE_ROOT)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._socket = ours
        _send_frame(ours, (self.sources, self.excludes.patterns))

    def stop(self) -> None:
        """End the process (at once: it holds nothing worth finishing) and close what is
        open. Safe to call more than once."""
        if self._open_fd is not None:
            os.close(self._open_fd)
            self._open_fd = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait()

    def records(self) -> Iterator[tuple]:
        """Every record of the walk, in order (see the module docstring)."""
        from_fields = Entry.from_fields
        while True:
            batch, fd = self._receive()
            if batch is None:
                return
            for record in batch:
                kind = record[0]
                if kind == "R":
                    yield record
                elif kind == "P":
                    member = PreparedMember(from_fields(record[1]), record[2], record[3])
                    yield "P", member, record[4]
                elif kind == "F":
                    yield "F", from_fields(record[1]), record[2], record[3]
                elif kind == "W":
                    yield record
                elif kind == "X":
                    yield "X", SourceError(record[1])
                    return
                elif fd is None:  # "S" comes last in its batch, with the descriptor
                    yield "X", SourceError("a large file came without its descriptor")
                    return
                else:
                    entry = from_fields(record[1])
                    self._open_fd = fd
                    yield "S", entry
                    yield from self._streamed(fd, record[2], entry)

    def _receive(self) -> tuple[list | None, int | None]:
        """One frame: its records and the descriptor passed with it. A process that ended
        without its end frame (killed, crashed) gives an ``X`` record."""
        waited = time.perf_counter()
        try:
            header, fds = self._read_header()
            if header is None:
                return [("X", self._ended())], None
            (length,) = _FRAME.unpack(header)
            payload = _read_exactly(self._socket, length)
        finally:
            self.wait_seconds += time.perf_counter() - waited
        if payload is None:
            return [("X", self._ended())], None
        return pickle.loads(payload), (fds[0] if fds else None)

    def _read_header(self) -> tuple[bytes | None, list[int]]:
        # recvmsg for every header: a descriptor arrives with the first byte of its frame.
        fds: list[int] = []
        header = b""
        while len(header) < _FRAME.size:
            data, ancillary, _flags, _address = self._socket.recvmsg(
                _FRAME.size - len(header), socket.CMSG_SPACE(_FRAME.size))
            for level, kind, value in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds += struct.unpack(f"{len(value) // 4}i", value[: len(value) // 4 * 4])
            if not data:
                for fd in fds:
                    os.close(fd)
                return None, []
            header += data
        return header, fds

    def _ended(self) -> str:
        status = self._process.wait() if self._process is not None else None
        return f"its process ended unexpectedly (exit status {status})"

    def _streamed(self, fd: int, path: str, entry: Entry) -> Iterator[tuple]:
        """A large file's records from its passed descriptor; then acknowledge it, so the
        walk goes on."""
        warning = None
        try:
            for chunk in _read_regions(fd, entry):
                yield "C", chunk
            warning = _changed(fd, entry)
        except OSError as exc:
            warning = f"it could not be read to its end ({_problem(exc)}); the rest is zeros"
        finally:
            if self._open_fd == fd:  # not closed by stop() already
                self._open_fd = None
                os.close(fd)
        try:
            self._socket.sendall(_ACK)
        except OSError:
            pass  # the process is gone: the next frame says so
        yield "E", warning and f"{path}: {warning}"


def _send_frame(sock: socket.socket, value, fds: tuple[int, ...] = ()) -> None:
    """``value`` (plain data only: tuples, lists, bytes, str, numbers) pickled without a
    memo — a third of the cost, and nothing in it refers to itself."""
    out = io.BytesIO()
    out.write(bytes(_FRAME.size))
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.fast = True
    pickler.dump(value)
    frame = out.getbuffer()
    _FRAME.pack_into(frame, 0, len(frame) - _FRAME.size)
    if fds:
        sent = sock.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                       struct.pack(f"{len(fds)}i", *fds))])
        frame = frame[sent:]
    if len(frame):
        sock.sendall(frame)
    del frame


def _read_exactly(sock: socket.socket, length: int) -> bytearray | None:
    buffer = bytearray(length)
    view = memoryview(buffer)
    done = 0
    while done < length:
        n = sock.recv_into(view[done:])
        if not n:
            return None
        done += n
    return buffer


class _Walker:
    """The reader process: walks ``sources`` and sends batches of records to ``sock``."""

    def __init__(self, sock: socket.socket, sources: list[bytes], excludes: Excludes):
        self.sock = sock
        self.sources = sources
        self.excludes = excludes
        self._batch: list = []
        self._batch_bytes = 0
        self._hardlinks: dict = {}

    def run(self) -> None:
        try:
            for source in self.sources:
                self._source(source)
            self._flush()
            _send_frame(self.sock, None)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the engine's side is gone (stopped or crashed): nothing to tell
        except BaseException as exc:
            traceback.print_exc()
            self._batch.append(("X", f"{type(exc).__name__}: {exc}"))  # a SourceError there
            self._flush()

    # -- sending ------------------------------------------------------------------------

    def _emit(self, record, size: int = 0) -> None:
        self._batch.append(record)
        self._batch_bytes += size
        if self._batch_bytes >= BATCH_BYTES or len(self._batch) >= BATCH_RECORDS:
            self._flush()

    def _flush(self, fd: int | None = None) -> None:
        if self._batch:
            batch, self._batch, self._batch_bytes = self._batch, [], 0
            _send_frame(self.sock, batch, (fd,) if fd is not None else ())

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
            member = prepare_member(entry)
            self._emit(("P", entry.fields(), member.blob, member.header_size, None))
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
                    children = sorted((os.fsencode(d.name), d.is_file(follow_symlinks=False))
                                      for d in listing)
            except OSError as exc:
                self._warn(path, f"its contents could not be read ({_problem(exc)})")
                return
            prefix = path.rstrip(b"/") + b"/"
            excludes = self.excludes if self.excludes else None
            for child, regular in children:
                child_path = prefix + child
                if excludes is not None and excludes(child_path, child):
                    continue
                if regular:
                    self._file(fd, child_path, child)
                else:
                    self._path(fd, child_path, child)
        finally:
            os.close(fd)

    def _file(self, dir_fd: int, path: bytes, name: bytes) -> None:
        """A child the directory listing says is a regular file: the common case, in as
        few system calls as the metadata allows (see ``_small_file``); anything unusual
        (hard links, holes, xattrs, large, vanished or replaced files) takes ``_path``,
        which says what went wrong."""
        try:
            fd = os.open(name, _OPEN_FLAGS, dir_fd=dir_fd)
        except OSError:
            self._path(dir_fd, path, name)
            return
        try:
            done = self._small_file(fd, path)
        finally:
            os.close(fd)
        if not done:
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
        self._emit(("F", entry.fields(), chunks,
                    warning and f"{os.fsdecode(path)}: {warning}"), entry.stored_size)

    def _small_file(self, fd: int, path: bytes) -> bool:
        """A small regular file without hard links, holes or xattrs, open as ``fd``
        (``O_NOFOLLOW``, relative to its directory): fstat, list xattrs, one read, fstat.
        The first fstat is the ``lstat`` ``entry_from_path`` would make (the same inode: a
        symlink is not opened), before the read as there. Sends an "R" record (headers by
        ``plain_member``). False (nothing sent) for anything else: ``_path`` takes it."""
        st = os.fstat(fd)
        size = st.st_size
        if not (_S_ISREG(st.st_mode) and st.st_nlink == 1 and size <= CHUNK
                and st.st_blocks * 512 >= size):
            return False
        try:
            if _has_xattrs(fd):
                return False
            data = _read_small(fd, size)
            after = os.fstat(fd)
        except OSError as exc:  # nothing is on tape yet: leave the file out
            self._warn(path, f"it could not be read ({_problem(exc)})")
            return True
        warning = None
        if after.st_size != size or after.st_mtime_ns != st.st_mtime_ns:
            warning = f"{os.fsdecode(path)}: {_CHANGED}"
        arcname = path.lstrip(b"/")
        uid, gid, mode = st.st_uid, st.st_gid, st.st_mode & 0o7777
        uname, gname = owner_names(uid, gid)
        mtime_ns, atime_ns, ctime_ns = st.st_mtime_ns, st.st_atime_ns, st.st_ctime_ns
        blob = None
        if len(data) == size:
            blob = plain_member(arcname, _REGULAR, mode, uid, gid, uname, gname, size, mtime_ns,
                                atime_ns, ctime_ns, data)
        if blob is not None:
            self._emit(("R", arcname, mode, uid, gid, uname, gname, size, mtime_ns, atime_ns,
                        ctime_ns, blob, warning), size)
            return True
        entry = Entry(arcname, _REGULAR, mode, uid, gid, uname, gname, size, mtime_ns,
                      atime_ns, ctime_ns)  # what entry_from_path makes of st
        member = prepare_member(entry, data)
        if member is None:  # it grew or shrank: the writer stores what fits, zero-padded
            self._emit(("F", entry.fields(), [data], warning), size)
        else:  # a long or not ASCII name: headers with more records
            self._emit(("P", entry.fields(), member.blob, member.header_size, warning), size)
        return True

    def _streamed(self, fd: int, path: bytes, entry: Entry) -> None:
        """Pass the open descriptor (``SourceReader._streamed`` reads it) and wait until
        the file has been read."""
        self._batch.append(("S", entry.fields(), os.fsdecode(path)))  # the batch's last
        self._flush(fd)
        if not self.sock.recv(1):
            raise BrokenPipeError  # the engine's side is gone


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
        return _CHANGED
    return None


_CHANGED = "it changed while being read; the stored copy may be inconsistent"


def _problem(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "it vanished before it could be read; not stored"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied; not stored"
    return f"{os.strerror(exc.errno) if exc.errno else exc}; not stored"


def _child_main(fd: int) -> None:
    """``python -m backups.source FD``: the reader process (started by ``SourceReader``).
    Ctrl-C reaches the whole process group: the engine's side stops this process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
    header = _read_exactly(sock, _FRAME.size)
    if header is None:
        return
    sources, patterns = pickle.loads(_read_exactly(sock, _FRAME.unpack(header)[0]))
    _Walker(sock, sources, Excludes(patterns)).run()


if __name__ == "__main__":
    _child_main(int(sys.argv[1]))
