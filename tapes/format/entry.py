"""What one archive member carries, and how to capture it from the filesystem.

``entry_from_path`` reads everything with ``os.lstat`` (never following symlinks), the
xattrs of every namespace (``security.*`` and ``trusted.*`` too: the engine runs as root),
POSIX ACLs converted from their ``system.posix_acl_*`` xattr binary form to the text form
GNU tar stores in ``SCHILY.acl.access`` / ``SCHILY.acl.default``, and the data regions of
sparse files (``SEEK_DATA`` / ``SEEK_HOLE``).
"""

from __future__ import annotations

import enum
import errno
import grp
import os
import pwd
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

ACL_ACCESS_XATTR = "system.posix_acl_access"
ACL_DEFAULT_XATTR = "system.posix_acl_default"
_ACL_XATTRS = (ACL_ACCESS_XATTR, ACL_DEFAULT_XATTR)


class EntryType(str, enum.Enum):
    """The ustar typeflag of a member."""

    REGULAR = "0"
    HARDLINK = "1"
    SYMLINK = "2"
    CHARDEV = "3"
    BLOCKDEV = "4"
    DIRECTORY = "5"
    FIFO = "6"


@dataclass(slots=True)
class Entry:
    """One archive member. ``name`` and ``linkname`` are bytes: names need not be UTF-8.

    ``size`` is the file's real (logical) size; for a sparse file ``sparse`` lists its data
    regions as ``(offset, length)`` pairs and only those bytes are stored (``stored_size``).
    ``linkname`` is the symlink target, or for a hard link the archive name of the member
    stored first. Times are nanoseconds since the epoch.
    """

    name: bytes
    type: EntryType
    mode: int = 0o644  # permission bits incl. setuid/setgid/sticky (0o7777)
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    size: int = 0
    mtime_ns: int = 0
    atime_ns: int | None = None
    ctime_ns: int | None = None
    linkname: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)  # without system.posix_acl_*
    acl_access: str | None = None
    acl_default: str | None = None
    sparse: tuple[tuple[int, int], ...] | None = None
    inode_key: tuple[int, int] | None = None

    def fields(self) -> tuple:
        """The entry as a tuple of plain values (``Entry.from_fields`` reverses it): how
        the engine's reader process sends one per member, cheaper to pickle than the
        object."""
        return (self.name, self.type.value, self.mode, self.uid, self.gid, self.uname,
                self.gname, self.size, self.mtime_ns, self.atime_ns, self.ctime_ns,
                self.linkname, self.devmajor, self.devminor, self.xattrs, self.acl_access,
                self.acl_default, self.sparse, self.inode_key)

    @classmethod
    def from_fields(cls, fields: tuple) -> Entry:
        return cls(fields[0], _TYPES_BY_VALUE[fields[1]], *fields[2:])

    @property
    def stored_size(self) -> int:
        """Bytes of file data in the archive (data regions only, for a sparse file)."""
        if self.type is not EntryType.REGULAR:
            return 0
        if self.sparse is not None:
            return sum(length for _, length in self.sparse)
        return self.size


_TYPES_BY_VALUE = {t.value: t for t in EntryType}


# Owner names by id. pwd/grp look-ups cost a file or NSS query each, and every file of a
# tree has the same few owners: entry_from_path reads these dicts before calling.
_USER_NAMES: dict[int, str] = {}
_GROUP_NAMES: dict[int, str] = {}


def user_name(uid: int) -> str:
    name = _USER_NAMES.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = ""
        if len(_USER_NAMES) < 4096:
            _USER_NAMES[uid] = name
    return name


def group_name(gid: int) -> str:
    name = _GROUP_NAMES.get(gid)
    if name is None:
        try:
            name = grp.getgrgid(gid).gr_name
        except KeyError:
            name = ""
        if len(_GROUP_NAMES) < 4096:
            _GROUP_NAMES[gid] = name
    return name


def owner_names(uid: int, gid: int) -> tuple[str, str]:
    """The user and group names of ``uid``/``gid`` ("" when unknown), from the dicts first:
    it runs once per file."""
    uname = _USER_NAMES.get(uid)
    if uname is None:
        uname = user_name(uid)
    gname = _GROUP_NAMES.get(gid)
    if gname is None:
        gname = group_name(gid)
    return uname, gname


def entry_from_path(path: bytes, arcname: bytes, *, hardlinks: dict) -> Entry:
    """Capture ``path`` as an entry named ``arcname``.

    ``hardlinks`` maps ``(st_dev, st_ino)`` to the archive name of the first member seen
    for that inode; the caller keeps one dict per archive. A later path of the same inode
    comes back as a ``HARDLINK`` entry. Raises FileNotFoundError if the file vanished.
    """
    st = os.lstat(path)
    mode = st.st_mode
    kind = _TYPES_BY_FORMAT.get(mode & 0o170000)
    if kind is None:
        raise ValueError("sockets and other special files cannot be archived")
    uid, gid = st.st_uid, st.st_gid
    uname, gname = owner_names(uid, gid)
    entry = Entry(arcname, kind, mode & 0o7777, uid, gid, uname, gname, 0, st.st_mtime_ns,
                  st.st_atime_ns, st.st_ctime_ns)
    if st.st_nlink > 1 and kind is not EntryType.DIRECTORY:
        key = (st.st_dev, st.st_ino)
        entry.inode_key = key
        first = hardlinks.get(key)
        if first is not None:
            entry.type = EntryType.HARDLINK
            entry.linkname = first
            return entry
        hardlinks[key] = arcname
    if kind is EntryType.REGULAR:
        entry.size = size = st.st_size
        if st.st_blocks * 512 < size:  # fewer blocks than bytes: it may have holes
            entry.sparse = sparse_map(path, size)
    elif kind is EntryType.SYMLINK:
        entry.linkname = os.readlink(path)
    elif kind is EntryType.CHARDEV or kind is EntryType.BLOCKDEV:
        entry.devmajor = os.major(st.st_rdev)
        entry.devminor = os.minor(st.st_rdev)
    _read_xattrs(path, entry)
    return entry


_TYPES_BY_FORMAT = {
    stat.S_IFREG: EntryType.REGULAR,
    stat.S_IFDIR: EntryType.DIRECTORY,
    stat.S_IFLNK: EntryType.SYMLINK,
    stat.S_IFIFO: EntryType.FIFO,
    stat.S_IFCHR: EntryType.CHARDEV,
    stat.S_IFBLK: EntryType.BLOCKDEV,
}


def _read_xattrs(path: bytes, entry: Entry) -> None:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EPERM):
            return
        raise
    if not names:  # the common case: no getxattr calls
        return
    for name in sorted(names):
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError as exc:
            if exc.errno == errno.ENODATA:  # removed between list and get
                continue
            raise
        if name == ACL_ACCESS_XATTR:
            entry.acl_access = acl_xattr_to_text(value)
        elif name == ACL_DEFAULT_XATTR:
            entry.acl_default = acl_xattr_to_text(value)
        else:
            entry.xattrs[name] = value


def sparse_map(path: bytes, size: int) -> tuple[tuple[int, int], ...] | None:
    """Data regions of a file, or None when it has no holes.

    Like GNU tar, a file ending in a hole gets a final ``(size, 0)`` region so that an
    extractor knows the real size from the map alone.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        regions = []
        offset = 0
        while offset < size:
            try:
                data = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError as exc:
                if exc.errno != errno.ENXIO:
                    raise
                break
            hole = os.lseek(fd, data, os.SEEK_HOLE)
            regions.append((data, hole - data))
            offset = hole
    finally:
        os.close(fd)
    if len(regions) == 1 and regions[0] == (0, size):
        return None
    if not regions or regions[-1][0] + regions[-1][1] < size:
        regions.append((size, 0))
    return tuple(regions)


def iter_file_data(path: bytes, entry: Entry, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """The bytes ``PaxWriter.add`` expects for a regular file: the whole content, or for a
    sparse entry its data regions one after another. Stops at ``stored_size`` even if the
    file grew (the writer reports a short read as ``changed``)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if entry.sparse is None:
            length = entry.size
            while length > 0:  # a small file is one read: no seek, no buffer object
                chunk = os.read(fd, chunk_size if length > chunk_size else length)
                if not chunk:
                    return
                length -= len(chunk)
                yield chunk
            return
        for offset, length in entry.sparse:
            while length > 0:
                chunk = os.pread(fd, min(chunk_size, length), offset)
                if not chunk:
                    return
                offset += len(chunk)
                length -= len(chunk)
                yield chunk
    finally:
        os.close(fd)


# --- POSIX ACLs: the kernel's xattr form <-> the text form (acl_to_text) ------------------

_ACL_VERSION = 2
_TAGS = {1: "user", 2: "user", 4: "group", 8: "group", 0x10: "mask", 0x20: "other"}
_NAMED = (2, 8)
_UNDEFINED_ID = 0xFFFFFFFF


def acl_xattr_to_text(value: bytes) -> str:
    """``system.posix_acl_*`` bytes -> ``user::rw-\\nuser:alice:r--\\n...`` (one entry per line,
    each ending in a newline, names where they resolve: what GNU tar stores)."""
    if len(value) < 4 or (len(value) - 4) % 8:
        raise ValueError("malformed POSIX ACL xattr")
    (version,) = struct.unpack_from("<I", value)
    if version != _ACL_VERSION:
        raise ValueError(f"unknown POSIX ACL xattr version {version}")
    lines = []
    for tag, perm, ident in struct.iter_unpack("<HHI", value[4:]):
        kind = _TAGS.get(tag)
        if kind is None:
            raise ValueError(f"unknown POSIX ACL tag {tag:#x}")
        qualifier = ""
        if tag in _NAMED:
            qualifier = (user_name if tag == 2 else group_name)(ident) or str(ident)
        lines.append(f"{kind}:{qualifier}:{_perm_text(perm)}\n")
    return "".join(lines)


def _perm_text(perm: int) -> str:
    return ("r" if perm & 4 else "-") + ("w" if perm & 2 else "-") + ("x" if perm & 1 else "-")


def acl_text_to_xattr(text: str) -> bytes:
    """The reverse of ``acl_xattr_to_text`` (accepts names or numeric ids, ``,`` or newlines)."""
    entries = []
    for item in text.replace(",", "\n").split("\n"):
        item = item.split("#", 1)[0].strip()
        if not item:
            continue
        kind, qualifier, perms = item.split(":")
        perm = sum(bit for ch, bit in zip(perms, (4, 2, 1)) if ch != "-")
        tag, ident = _acl_tag(kind, qualifier)
        entries.append((tag, perm, ident))
    entries.sort(key=lambda e: (e[0], e[2]))
    return struct.pack("<I", _ACL_VERSION) + b"".join(struct.pack("<HHI", *e) for e in entries)


def _acl_tag(kind: str, qualifier: str) -> tuple[int, int]:
    if kind in ("user", "u"):
        if not qualifier:
            return 1, _UNDEFINED_ID
        return 2, int(qualifier) if qualifier.isdigit() else pwd.getpwnam(qualifier).pw_uid
    if kind in ("group", "g"):
        if not qualifier:
            return 4, _UNDEFINED_ID
        return 8, int(qualifier) if qualifier.isdigit() else grp.getgrnam(qualifier).gr_gid
    if kind in ("mask", "m"):
        return 0x10, _UNDEFINED_ID
    if kind in ("other", "o"):
        return 0x20, _UNDEFINED_ID
    raise ValueError(f"unknown ACL entry kind {kind!r}")
