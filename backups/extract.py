"""Safe extraction of archive members into a target directory (DESIGN invariant 5).

Everything is created relative to an open directory file descriptor of the target, one
path component at a time, each opened with ``O_NOFOLLOW | O_DIRECTORY``: a component that
is a symlink (or anything but a directory) stops the member, so nothing is ever created
*through* a link, whatever the archive or the target already holds; and since no call
sees more than one component, paths longer than PATH_MAX (4096 bytes) restore as well.

Names are cleaned as GNU tar does: leading ``/`` and ``.``/empty components are dropped;
a name with a ``..`` component is refused (not rewritten). Symlink *targets* are stored as
recorded — never followed. A hard link must point at a member this extraction created and
that is still the same inode.

Modes:

``safe`` (default)
    no device nodes (FIFOs are created: they cannot reach outside the target);
    setuid/setgid stripped; owners and ``trusted.*``/``security.*`` xattrs only when
    running as root.
``faithful``
    everything recorded (device nodes, setuid/setgid, owners, every xattr): for a root
    restore of a whole system.

Existing names: ``skip`` (keep what is there), ``overwrite`` (replace it atomically with a
rename; a non-empty directory is never removed), or ``rename`` (keep it and write the
restored file as ``NAME.restored``, ``NAME.restored.2`` …).

Checksums: a regular file whose data does not match the catalog is not kept under its name:
it is left as ``NAME.corrupt`` (useful for salvage, impossible to mistake for good) and
reported; an existing file of that name is untouched.

Directory metadata (mode, owner, times) is applied by ``finish()``, deepest first, after
their contents were written.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from tapes.format import ChecksumMismatch, Entry, EntryType, FormatError
from tapes.format.entry import ACL_ACCESS_XATTR, ACL_DEFAULT_XATTR, acl_text_to_xattr

SAFE, FAITHFUL = "safe", "faithful"
MODES = (SAFE, FAITHFUL)
SKIP, OVERWRITE, RENAME = "skip", "overwrite", "rename"
ON_EXISTING = (SKIP, OVERWRITE, RENAME)
MAX_DEPTH = 512  # directory levels held open at once (each is one fd)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_PRIVILEGED_XATTRS = ("trusted.", "security.")
_SMALL = 1 << 20  # members read whole before writing (``_write_data``)


class Refused(Exception):
    """This member cannot be restored safely or at all; one sentence, the member skipped."""


@dataclass
class ExtractReport:
    """What an extraction did; ``problems`` are one sentence each, by name."""

    files: int = 0
    bytes: int = 0
    skipped: int = 0
    refused: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    stripped_setid: int = 0

    @property
    def ok(self) -> bool:
        return not self.corrupt and not self.refused

    def as_dict(self) -> dict:
        return {"files": self.files, "bytes": self.bytes, "skipped": self.skipped,
                "refused": self.refused, "corrupt": self.corrupt, "warnings": self.warnings,
                "stripped_setid": self.stripped_setid}


def clean_components(name: bytes) -> tuple[bytes, ...]:
    """The components of an archive name relative to the target; ``Refused`` for ``..``
    or a name that is the target itself."""
    parts = name.split(b"/")
    if b"" in parts or b"." in parts:
        parts = [p for p in parts if p and p != b"."]
    parts = tuple(parts)
    if b".." in parts:
        raise Refused(f"{_show(name)} contains '..'; it was not restored.")
    return parts


def _cleaned_or_none(name: bytes) -> tuple[bytes, ...] | None:
    try:
        return clean_components(name)
    except Refused:
        return None


def _show(name: bytes | tuple) -> str:
    if isinstance(name, tuple):
        name = b"/".join(name)
    return name.decode("utf-8", "backslashreplace")


class Extractor:
    """Create members under ``target``. Use as a context manager, or call ``close()``."""

    def __init__(self, target, *, mode: str = SAFE, on_existing: str = SKIP,
                 link_sources: set[bytes] | None = None, create_parents: bool = True,
                 before_mkdir=None):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if on_existing not in ON_EXISTING:
            raise ValueError(f"on_existing must be one of {ON_EXISTING}")
        self.mode = mode
        self.on_existing = on_existing
        self.root = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.is_root = os.geteuid() == 0
        self.report = ExtractReport()
        self._stack: list[tuple[bytes, int]] = []  # open directories below the target
        self._cwd: tuple[bytes, ...] | None = ()  # the names of _stack, when known
        # Hard-link sources created so far: cleaned path -> (dev, ino). ``link_sources``
        # (archive names, from the catalog) limits it to the members links point at.
        self._created: dict[tuple[bytes, ...], tuple[int, int]] = {}
        self._link_sources = (set(filter(None, map(_cleaned_or_none, link_sources)))
                              if link_sources is not None else None)
        self._dirs: list[tuple[tuple[bytes, ...], Entry]] = []
        # ``backups.extract_parallel``: its workers only create in directories that exist
        # (``create_parents`` False); its own extractor settles the workers before it makes
        # a directory the archive did not describe (``before_mkdir``), since a member still
        # queued there may be a file of that name.
        self._create_parents = create_parents
        self._before_mkdir = before_mkdir
        self._umask = current_umask()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._unwind(0)
        if self.root >= 0:
            os.close(self.root)
            self.root = -1

    # --- members -------------------------------------------------------------------------

    def extract(self, entry: Entry, data=None) -> str | None:
        """Restore one member (``data``: its ``MemberData``, checked against the checksum it
        was opened with). Returns the final name restored, or None if not restored;
        problems land in ``report``. Read errors of the data propagate (``FormatError``)."""
        try:
            parts = clean_components(entry.name)
            if not parts:
                return None  # the archive's "." itself: the target already exists
            parent = self._walk(parts[:-1], create=self._create_parents)
            return self._dispatch(entry, data, parent, parts)
        except Refused as exc:
            self.report.refused.append(str(exc))
            return None

    def _dispatch(self, entry: Entry, data, parent: int, parts: tuple[bytes, ...]):
        kind = entry.type
        if kind is EntryType.DIRECTORY:
            return self._directory(entry, parent, parts)
        if kind in (EntryType.CHARDEV, EntryType.BLOCKDEV) and self.mode == SAFE:
            raise Refused(f"{_show(parts)} is a device node; safe mode does not create them.")
        if kind is EntryType.REGULAR:
            whole = _read_whole(entry, data)
            mode = self._creation_mode(entry, whole)
            fd = self._create_new(parent, parts, mode)
            if fd is not None:
                return self._fill(entry, data, parent, parts, fd, parts[-1], whole, mode)
        name = self._free_name(parent, parts)
        if name is None:
            self.report.skipped += 1
            return None
        final = parts[:-1] + (name,)
        if kind is EntryType.REGULAR:
            return self._regular(entry, data, parent, final, whole, mode)
        if kind is EntryType.HARDLINK:
            self._hardlink(entry, parent, final)
        elif kind is EntryType.SYMLINK:
            self._replace_with(parent, name, lambda tmp: os.symlink(entry.linkname, tmp, dir_fd=parent))
            self._metadata_by_name(parent, name, entry, symlink=True)
        elif kind is EntryType.FIFO:
            self._replace_with(parent, name, lambda tmp: os.mkfifo(tmp, 0o600, dir_fd=parent))
            self._metadata_by_name(parent, name, entry)
        else:
            device = stat.S_IFCHR if kind is EntryType.CHARDEV else stat.S_IFBLK
            rdev = os.makedev(entry.devmajor, entry.devminor)
            self._replace_with(parent, name, lambda tmp: os.mknod(tmp, device | 0o600, rdev, dir_fd=parent))
            self._metadata_by_name(parent, name, entry)
        self._remember(parent, final)
        self.report.files += 1
        return b"/".join(final)

    # --- names ---------------------------------------------------------------------------

    def _free_name(self, parent: int, parts: tuple[bytes, ...]) -> bytes | None:
        """The name to create, by the operator's choice when ``parts`` exists already."""
        name = parts[-1]
        self._forget_below(parts)
        existing = _lstat(parent, name)
        if existing is None or self.on_existing == OVERWRITE:
            if existing is not None and stat.S_ISDIR(existing.st_mode):
                self._remove_empty_dir(parent, name, parts)
            return name
        if self.on_existing == SKIP:
            return None
        for n in range(1, 1000):
            candidate = name + (b".restored" if n == 1 else b".restored.%d" % n)
            if _lstat(parent, candidate) is None:
                return candidate
        raise Refused(f"{_show(parts)}: no free .restored name.")

    def _remove_empty_dir(self, parent: int, name: bytes, parts) -> None:
        try:
            os.rmdir(name, dir_fd=parent)
        except OSError:
            raise Refused(f"{_show(parts)} exists as a non-empty directory; it was not replaced.") from None

    def _replace_with(self, parent: int, name: bytes, create) -> None:
        """Create under a temporary name, then rename over ``name`` (a rename replaces a
        symlink itself, never what it points at)."""
        if _lstat(parent, name) is None:
            create(name)
            return
        tmp = _temp_name(parent, name)
        create(tmp)
        os.rename(tmp, name, src_dir_fd=parent, dst_dir_fd=parent)

    # --- directories ---------------------------------------------------------------------

    def _walk(self, parts: tuple[bytes, ...], *, create: bool) -> int:
        """An fd of the directory ``parts`` below the target, never through a symlink."""
        if parts == self._cwd:  # members come in directory order: usually the last one
            return self._stack[-1][1] if self._stack else self.root
        if len(parts) > MAX_DEPTH:
            raise Refused(f"{_show(parts)} is more than {MAX_DEPTH} directories deep.")
        common = 0
        for (name, _), part in zip(self._stack, parts):
            if name != part:
                break
            common += 1
        self._unwind(common)
        for i in range(common, len(parts)):
            fd = self._stack[-1][1] if self._stack else self.root
            self._stack.append((parts[i], self._open_dir(fd, parts[: i + 1], create)))
        self._cwd = parts
        return self._stack[-1][1] if self._stack else self.root

    def _open_dir(self, parent: int, parts: tuple[bytes, ...], create: bool) -> int:
        name = parts[-1]
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                raise Refused(f"{_show(parts)} does not exist.") from None
        except OSError as exc:
            _not_a_directory(exc, parts)
        if self._before_mkdir is not None:
            self._before_mkdir()
            try:
                return os.open(name, _DIR_FLAGS, dir_fd=parent)
            except FileNotFoundError:
                pass
            except OSError as exc:
                _not_a_directory(exc, parts)
        os.mkdir(name, 0o700, dir_fd=parent)
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
        os.fchmod(fd, 0o755)  # a parent the archive does not describe (partial restores)
        return fd

    def _unwind(self, depth: int) -> None:
        while len(self._stack) > depth:
            self._cwd = None
            os.close(self._stack.pop()[1])

    def _forget_below(self, parts: tuple[bytes, ...]) -> None:
        """``parts`` is about to be replaced: stop using any fd opened at or below it."""
        if len(self._stack) >= len(parts) and tuple(n for n, _ in self._stack[: len(parts)]) == parts:
            self._unwind(len(parts) - 1)

    def _directory(self, entry: Entry, parent: int, parts: tuple[bytes, ...]):
        name = parts[-1]
        existing = _lstat(parent, name)
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            if self.on_existing != OVERWRITE:
                raise Refused(f"{_show(parts)} exists and is not a directory; it was kept.")
            self._forget_below(parts)
            os.unlink(name, dir_fd=parent)
            existing = None
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=parent)
            self.report.files += 1
        elif self.on_existing == SKIP:
            return b"/".join(parts)  # merge into it, leave its metadata alone
        self._dirs.append((parts, entry))
        return b"/".join(parts)

    def finish(self) -> ExtractReport:
        """Apply directory metadata, deepest first (their contents changed their mtimes)."""
        for parts, entry in sorted(self._dirs, key=lambda d: len(d[0]), reverse=True):
            try:
                fd = self._walk(parts, create=False)
                self._metadata_fd(fd, entry, parts)
            except Refused as exc:
                self.report.warnings.append(str(exc))
        self._dirs.clear()
        self._unwind(0)
        return self.report

    # --- regular files and hard links -----------------------------------------------------

    def _creation_mode(self, entry: Entry, whole) -> int:
        """The mode to create a regular file with: its own when its data is in hand and
        good, it has no setuid/setgid/sticky bit (``fchown`` clears those: they are set
        after it) and the umask takes nothing from it — then no ``fchmod`` is needed;
        else owner-only until data and metadata are in place."""
        mode = entry.mode & 0o7777
        if whole is not None and whole[1] and not mode & (0o7000 | self._umask):
            return mode
        return 0o600

    def _create_new(self, parent: int, parts: tuple[bytes, ...], mode: int) -> int | None:
        """An fd of ``parts`` created now, or None if the name exists (then the operator's
        choice decides). ``O_EXCL`` is the existence check: atomic, never through a link,
        and the usual case (a new tree) costs no ``lstat``."""
        self._forget_below(parts)
        try:
            return os.open(parts[-1], _NEW_FILE, mode, dir_fd=parent)
        except FileExistsError:
            return None

    def _regular(self, entry: Entry, data, parent: int, final: tuple[bytes, ...], whole, mode: int):
        name = final[-1]
        direct = _lstat(parent, name) is None
        create_as = name if direct else _temp_name(parent, name)
        fd = os.open(create_as, _NEW_FILE, mode, dir_fd=parent)
        return self._fill(entry, data, parent, final, fd, create_as, whole, mode)

    def _fill(self, entry: Entry, data, parent: int, final: tuple[bytes, ...], fd: int,
              create_as: bytes, whole, mode: int):
        """Write the data (``whole``: a small member's, read already) into ``fd``
        (``create_as``, made with ``mode``), then give it its name: ``final`` when it
        matches its checksum, ``NAME.corrupt`` when not."""
        name = final[-1]
        try:
            good = self._write_data(fd, entry, data, whole)
            if good:
                self._metadata_fd(fd, entry, final, created=mode & ~self._umask)
        except BaseException:
            os.unlink(create_as, dir_fd=parent)  # a read error: never leave half a file
            raise
        finally:
            os.close(fd)
        if not good:
            corrupt = _corrupt_name(parent, name)
            os.rename(create_as, corrupt, src_dir_fd=parent, dst_dir_fd=parent)
            self.report.corrupt.append(f"{_show(final)} does not match its checksum; the data read "
                                       f"was kept as {_show(corrupt)}.")
            return None
        if create_as != name:
            os.rename(create_as, name, src_dir_fd=parent, dst_dir_fd=parent)
        self._remember(parent, final)
        self.report.files += 1
        self.report.bytes += entry.size
        return b"/".join(final)

    def _write_data(self, fd: int, entry: Entry, data, whole) -> bool:
        """Stream the member's data into ``fd`` (holes stay holes); False on a checksum
        mismatch. Other read errors propagate after the partial file is removed by the caller."""
        if whole is not None:
            _write_all(fd, whole[0])
            return whole[1]
        if data is None:
            return True
        regions = list(entry.sparse) if entry.sparse is not None else None
        try:
            if regions is None:
                for chunk in data:
                    _write_all(fd, chunk)
            else:
                _write_sparse(fd, data, regions)
        except ChecksumMismatch:
            return False
        if regions is not None:
            os.ftruncate(fd, entry.size)
        return True

    def _hardlink(self, entry: Entry, parent: int, final: tuple[bytes, ...]) -> None:
        try:
            source = clean_components(entry.linkname)
        except Refused:
            raise Refused(f"{_show(final)} is a hard link to {_show(entry.linkname)}, which "
                          "contains '..'; it was not restored.") from None
        identity = self._created.get(source)
        if identity is None:
            raise Refused(f"{_show(final)} is a hard link to {_show(source)}, which this "
                          "restore did not create; it was not restored.")
        # The source's directory is walked again (never through a link), and the inode
        # must still be the one we made: a later member may have replaced it.
        holder = [os.dup(self._walk(source[:-1], create=False))]
        try:
            st = _lstat(holder[0], source[-1])
            if st is None or (st.st_dev, st.st_ino) != identity:
                raise Refused(f"{_show(final)}: its hard-link source {_show(source)} was "
                              "replaced during the restore; it was not restored.")
            parent = self._walk(final[:-1], create=False)
            self._replace_with(parent, final[-1], lambda tmp: os.link(
                source[-1], tmp, src_dir_fd=holder[0], dst_dir_fd=parent, follow_symlinks=False))
        finally:
            os.close(holder[0])

    def _remember(self, parent: int, parts: tuple[bytes, ...]) -> None:
        if self._link_sources is not None and parts not in self._link_sources:
            return
        st = _lstat(parent, parts[-1])
        if st is not None:
            self._created[parts] = (st.st_dev, st.st_ino)

    # --- metadata ------------------------------------------------------------------------

    def _mode(self, entry: Entry) -> int:
        mode = entry.mode & 0o7777
        if self.mode == SAFE and mode & 0o6000:
            self.report.stripped_setid += 1
            mode &= ~0o6000
        return mode

    def _owners_wanted(self) -> bool:
        return self.mode == FAITHFUL or self.is_root

    def _xattr_wanted(self, name: str) -> bool:
        if self.mode == FAITHFUL:
            return True
        if name.startswith(_PRIVILEGED_XATTRS):
            return self.is_root
        return name.startswith("user.")

    def _metadata_fd(self, fd: int, entry: Entry, parts, created: int | None = None) -> None:
        """Owner, then mode (chown clears setuid; not set again when it is the mode the
        file was ``created`` with), ACLs and xattrs, times last."""
        if self.mode == FAITHFUL or self.is_root:
            try:
                os.fchown(fd, entry.uid, entry.gid)
            except OSError as exc:
                self.report.warnings.append(f"{_show(parts)}: could not set owner ({exc.strerror}).")
        mode = entry.mode & 0o7777
        if mode != created:
            os.fchmod(fd, self._mode(entry) if mode & 0o6000 else mode)
        if entry.xattrs or entry.acl_access or entry.acl_default:
            for name, value in self._xattrs(entry, parts):
                self._try(parts, f"xattr {name}", os.setxattr, fd, name, value)
        mtime = entry.mtime_ns
        os.utime(fd, ns=(mtime if entry.atime_ns is None else entry.atime_ns, mtime))

    def _metadata_by_name(self, parent: int, name: bytes, entry: Entry, *, symlink=False) -> None:
        """For members that cannot be opened (symlinks, FIFOs, devices): by name, no-follow."""
        parts = (name,)
        if self._owners_wanted():
            self._try(parts, "owner", os.chown, name, entry.uid, entry.gid, dir_fd=parent,
                      follow_symlinks=False)
        if not symlink:
            os.chmod(name, self._mode(entry), dir_fd=parent, follow_symlinks=False)
        if entry.xattrs:
            # No *xattr call takes a dir_fd; /proc/self/fd/N/name with no-follow names the
            # member itself, whatever it is.
            path = b"/proc/self/fd/%d/%s" % (parent, name)
            for key, value in self._xattrs(entry, parts):
                self._try(parts, f"xattr {key}", os.setxattr, path, key, value,
                          follow_symlinks=False)
        atime = entry.atime_ns if entry.atime_ns is not None else entry.mtime_ns
        os.utime(name, ns=(atime, entry.mtime_ns), dir_fd=parent, follow_symlinks=False)

    def _xattrs(self, entry: Entry, parts):
        items = [(k, v) for k, v in entry.xattrs.items() if self._xattr_wanted(k)]
        for key, text in ((ACL_ACCESS_XATTR, entry.acl_access), (ACL_DEFAULT_XATTR, entry.acl_default)):
            if text:
                try:
                    items.append((key, acl_text_to_xattr(text)))
                except (KeyError, ValueError):
                    self.report.warnings.append(f"{_show(parts)}: its ACL names users or groups "
                                                "unknown here; the ACL was not restored.")
        return items

    def _try(self, parts, what: str, call, *args, **kwargs) -> None:
        try:
            call(*args, **kwargs)
        except OSError as exc:
            self.report.warnings.append(f"{_show(parts)}: could not set {what} ({exc.strerror}).")


# --- helpers ---------------------------------------------------------------------------------


def _not_a_directory(exc: OSError, parts) -> None:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        raise Refused(f"{_show(parts)} is not a directory (a symlink or a file); "
                      "nothing is restored through it.") from None
    raise exc


def _read_whole(entry: Entry, data) -> tuple[bytes, bool] | None:
    """A small member's data and whether it matches its checksum, read in one piece; None
    for one that is streamed (large, sparse) or has no data."""
    if data is not None and entry.sparse is None and entry.size <= _SMALL:
        return data.read_unchecked()
    return None


def current_umask() -> int:
    """This process's umask, without setting it (``os.umask`` would, for every thread);
    0o777 where the kernel does not say (then every mode is set explicitly)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o777


def _lstat(parent: int, name: bytes):
    try:
        return os.stat(name, dir_fd=parent, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _temp_name(parent: int, name: bytes) -> bytes:
    for n in range(1000):
        candidate = b".%s.tbrestore%d" % (name[:200], n)
        if _lstat(parent, candidate) is None:
            return candidate
    raise Refused(f"{_show(name)}: no free temporary name.")


def _corrupt_name(parent: int, name: bytes) -> bytes:
    candidate = name + b".corrupt"
    n = 2
    while _lstat(parent, candidate) is not None:
        candidate = name + b".corrupt.%d" % n
        n += 1
    return candidate


def _write_all(fd: int, chunk) -> None:
    written = os.write(fd, chunk)
    if written == len(chunk):
        return
    view = memoryview(chunk)[written:]
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_sparse(fd: int, data, regions: list[tuple[int, int]]) -> None:
    """The data of a sparse member is its regions one after another; place each one."""
    index, offset, left = 0, 0, 0
    if regions:
        offset, left = regions[0]
    for chunk in data:
        view = memoryview(chunk)
        while view:
            while left == 0:
                index += 1
                if index >= len(regions):
                    raise FormatError("A sparse member has more data than its map.")
                offset, left = regions[index]
            take = min(left, len(view))
            done = 0
            while done < take:
                done += os.pwrite(fd, view[done:take], offset + done)
            offset, left, view = offset + take, left - take, view[take:]
