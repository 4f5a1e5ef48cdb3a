"""Extraction on several cores: the restore reads and checks, worker processes create files.

Creating a small file is six system calls (open, write, fchown, fchmod, utimensat, close),
kernel work that GNU tar pays too; reading the archive, parsing its headers and checking
checksums is Python work on top. In one process the two add up; here the restore's own
process reads, parses and checks, and ``WORKERS`` processes (``python -m
backups.extract_parallel``, each an ``Extractor``) create the files, so both cores work.

What goes where, so that the result is the one ``Extractor`` alone gives:

- Workers get the members that create one name each and need nothing else: small regular
  files (data read here, checked there against the catalog's checksum), symlinks, FIFOs,
  device nodes. A member goes to the worker chosen by a hash of its path, so members of
  one path stay in archive order.
- This process keeps everything else in its own ``Extractor``: directories (their metadata
  is applied by ``finish()``, after every worker is done), large and sparse files (not
  copied through a socket), and hard links, for which the workers are settled first so
  the link's source exists and its inode is known.
- Before this process makes a directory the archive did not describe, the workers are
  settled: a member still queued may be a file of that name (``Extractor(before_mkdir=)``).
- Workers never make directories (``create_parents=False``): every parent is made (or
  found) here before its members are sent.

Only used where that reasoning holds without more: a target that is empty (or holds only
``lost+found``) and a plan whose paths are all different (``parallel_restore_possible``).
Anything else restores in one process, as before.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import socket
import subprocess
import sys
import zlib
from pathlib import Path

from tapes.format import Entry, EntryType

from .extract import _SMALL, ExtractReport, Extractor, Refused, clean_components
from .source import _FRAME, _read_exactly, _send_frame

BATCH_RECORDS = 256
BATCH_BYTES = 1 << 20
SOCKET_BUFFER = 4 << 20
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
_DELEGATED = (EntryType.REGULAR, EntryType.SYMLINK, EntryType.FIFO, EntryType.CHARDEV,
              EntryType.BLOCKDEV)
_REGULAR = EntryType.REGULAR
_UNUSUAL = (b"", b".", b"..")  # last components that ``clean_components`` must see


def parallel_restore_possible(target: bytes, paths) -> bool:
    """Whether a restore of ``paths`` (the plan's catalog paths) into ``target`` may use
    ``ParallelExtractor``: a target that does not exist or is empty but for ``lost+found``,
    and no path twice."""
    try:
        if set(os.listdir(target)) - {b"lost+found"}:
            return False
    except FileNotFoundError:
        pass
    except NotADirectoryError:
        return False
    paths = list(paths)
    return len(set(paths)) == len(paths)


class WorkerFailed(OSError):
    """A worker process could not go on (an error of the target's file system, or its
    process ended): the restore fails with it. ``member``: the archive name it was
    creating, when it was one."""

    member: bytes | None = None


class ParallelExtractor:
    """``Extractor``'s interface (``extract``, ``finish``, ``close``, ``report``) over
    ``workers`` processes; see the module docstring."""

    def __init__(self, target, *, mode: str, on_existing: str,
                 link_sources: set[bytes] | None = None, workers: int = 2):
        self.local = Extractor(target, mode=mode, on_existing=on_existing,
                               link_sources=link_sources, before_mkdir=self.settle)
        self._workers: list[_Worker] = []
        self._head: bytes | None = None  # the raw directory part of the last member sent
        self._head_parts: tuple[bytes, ...] = ()
        self._head_crc = 0
        self._links = self.local._link_sources  # cleaned paths hard links point at
        self._sources_pending = False  # one of them sent since the last settle
        try:
            for _ in range(workers):
                self._workers.append(_Worker(os.fsencode(target), mode, on_existing, link_sources))
        except BaseException:
            self.close()
            raise

    @property
    def report(self) -> ExtractReport:
        return self.local.report

    def __enter__(self) -> ParallelExtractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def extract(self, entry: Entry, data=None) -> bytes | None:
        kind = entry.type
        if kind not in _DELEGATED or kind is _REGULAR and (
                entry.sparse is not None or entry.size > _SMALL):
            if kind is EntryType.HARDLINK and (self._sources_pending or self._links is None):
                self.settle()
            self._head = None
            return self.local.extract(entry, data)
        head, _, base = entry.name.rpartition(b"/")
        if head != self._head or base in _UNUSUAL:  # a new directory: clean, make its parents
            self._head = None
            try:
                parts = clean_components(entry.name)
                if not parts:
                    return None
                self.local._walk(parts[:-1], create=True)
            except Refused as exc:
                self.local.report.refused.append(str(exc))
                return None
            self._head, self._head_parts = head, parts[:-1]
            self._head_crc = zlib.crc32(b"/".join(parts[:-1]) + b"/")
            base = parts[-1]
        if self._links and self._head_parts + (base,) in self._links:
            self._sources_pending = True  # a hard link to it settles the workers first
        payload, expected = data.read_raw() if data is not None else (None, None)
        # By the cleaned path: members of one path go to one worker, in archive order.
        worker = self._workers[zlib.crc32(base, self._head_crc) % len(self._workers)]
        worker.send(("M", entry.fields(), payload, expected), len(payload) if payload else 0)
        return entry.name

    def settle(self) -> None:
        """Wait until every worker has done all it was sent; learn the hard-link sources
        they made."""
        for worker in self._workers:
            worker.request(("B",))
        for worker in self._workers:
            self.local._created.update(worker.reply()[1])
        self._sources_pending = False

    def finish(self) -> ExtractReport:
        for worker in self._workers:
            worker.request(("F",))
        report = self.local.report
        for worker in self._workers:
            _, done, created = worker.reply()
            self.local._created.update(created)
            for key, value in done.items():
                setattr(report, key, getattr(report, key) + value)
            worker.wait()
        self._workers.clear()
        return self.local.finish()

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers.clear()
        self.local.close()


class _Worker:
    """One worker process, seen from the restore: batches out, replies back."""

    def __init__(self, target: bytes, mode: str, on_existing: str, link_sources):
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SOCKET_BUFFER)
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
            self.process = subprocess.Popen(
                [sys.executable, "-m", "backups.extract_parallel", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, env=env, cwd=_PACKAGE_ROOT)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.sock = ours
        self.batch: list[tuple] = []
        self.batch_bytes = 0
        links = sorted(link_sources) if link_sources is not None else None
        self._send([(target, mode, on_existing, links)])

    def send(self, record: tuple, size: int) -> None:
        self.batch.append(record)
        self.batch_bytes += size
        if len(self.batch) >= BATCH_RECORDS or self.batch_bytes >= BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.batch:
            batch, self.batch, self.batch_bytes = self.batch, [], 0
            self._send(batch)

    def request(self, record: tuple) -> None:
        self.batch.append(record)
        self.flush()

    def reply(self) -> tuple:
        try:
            header = _read_exactly(self.sock, _FRAME.size)
            payload = _read_exactly(self.sock, _FRAME.unpack(header)[0]) if header else None
        except OSError:  # reset: it ended with our frames unread
            payload = None
        if payload is None:
            raise WorkerFailed(f"A restore worker ended unexpectedly (exit status {self.wait()}).")
        answer = pickle.loads(payload)
        if answer[0] == "X":
            _, number, text, member = answer
            failed = WorkerFailed(number, text)
            failed.member = member
            raise failed
        return answer

    def _send(self, value) -> None:
        try:
            _send_frame(self.sock, value)
        except OSError:  # it has ended: its last frame says why
            self.reply()
            raise WorkerFailed("A restore worker stopped reading.") from None

    def wait(self):
        self.sock.close()
        return self.process.wait()

    def stop(self) -> None:
        self.sock.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


# --- the worker process ------------------------------------------------------------------------


class _Data:
    """A member's data as ``Extractor`` reads it (``MemberData.read_unchecked``): whole,
    checked here against the catalog's checksum."""

    __slots__ = ("data", "expected")

    def __init__(self, data: bytes, expected: str | None):
        self.data, self.expected = data, expected

    def read_unchecked(self) -> tuple[bytes, bool]:
        expected = self.expected
        return self.data, expected is None or hashlib.sha256(self.data).hexdigest() == expected


def _serve(sock: socket.socket) -> None:
    frames = _frames(sock)
    target, mode, on_existing, links = next(frames)[0]
    extractor = Extractor(target, mode=mode, on_existing=on_existing,
                          link_sources=set(links) if links is not None else None,
                          create_parents=False)
    from_fields = Entry.from_fields
    record = None
    try:
        for batch in frames:
            for record in batch:
                kind = record[0]
                if kind == "M":
                    data = _Data(record[2], record[3]) if record[2] is not None else None
                    extractor.extract(from_fields(record[1]), data)
                elif kind == "B":
                    extractor._unwind(0)
                    _send_frame(sock, ("B", _taken(extractor)))
                else:
                    report = extractor.finish()
                    _send_frame(sock, ("F", report.as_dict(), _taken(extractor)))
                    return
    except OSError as exc:
        member = record[1][0] if record is not None and record[0] == "M" else None
        _send_frame(sock, ("X", exc.errno or 0, exc.strerror or str(exc), member))
    finally:
        extractor.close()


def _taken(extractor: Extractor) -> dict:
    created, extractor._created = extractor._created, {}
    return created


def _frames(sock: socket.socket):
    while True:
        header = _read_exactly(sock, _FRAME.size)
        if header is None:
            return
        payload = _read_exactly(sock, _FRAME.unpack(header)[0])
        if payload is None:
            return
        yield pickle.loads(payload)


def _child_main(fd: int) -> None:
    """``python -m backups.extract_parallel FD``: a worker. Ctrl-C reaches the whole process
    group; the restore's side stops its workers."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.umask(0)  # files are made with their own modes, no fchmod after (``Extractor._creation_mode``)
    sock = socket.socket(fileno=fd)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SOCKET_BUFFER)
    _serve(sock)


if __name__ == "__main__":
    _child_main(int(sys.argv[1]))
