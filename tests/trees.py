"""Trees of awkward files for the format, backup and restore tests, and a property-by-
property snapshot to compare a tree with what GNU tar (or a restore) made of it. Run as root
(device nodes, chown, trusted.* xattrs)."""

from __future__ import annotations

import hashlib
import os
import stat

from tapes.format.entry import acl_text_to_xattr

NS_MTIME = 1_700_000_000_123_456_789
NON_UTF8 = b"caf\xe9-\xff.txt"


def write(path: bytes, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def make_awkward_tree(root: bytes) -> None:
    """Every kind of file a file server has, with awkward metadata."""
    os.makedirs(root)
    j = lambda *parts: os.path.join(root, *parts)  # noqa: E731
    write(j(b"plain.txt"), b"hello tape\n")
    write(j(b"empty"), b"")
    write(j(b"large.bin"), os.urandom(3 * 1024 * 1024 + 123))  # many 64 KiB records
    write(j(b"big.bin"), os.urandom(700_000))  # a few 256 KiB records
    write(j(NON_UTF8), b"latin-1 name\n")
    os.mkdir(j(b"\xff\xfedir"))
    write(j(b"\xff\xfedir", b"inside"), b"in a non-UTF-8 directory\n")
    os.makedirs(j(b"a" * 120, b"b" * 120))
    write(j(b"a" * 120, b"b" * 120, b"c" * 200), b"long name\n")
    write(j(b"setuid"), b"#!/bin/sh\n")
    os.chmod(j(b"setuid"), 0o4755)
    write(j(b"setgid"), b"g\n")
    os.chmod(j(b"setgid"), 0o2750)
    os.mkdir(j(b"sticky"))
    os.chmod(j(b"sticky"), 0o1777)
    write(j(b"nobody"), b"owned by nobody\n")
    os.chown(j(b"nobody"), 65534, 65534)
    write(j(b"owned"), b"owned by uid 1000\n")
    os.chown(j(b"owned"), 1000, 1000)
    write(j(b"bigids"), b"ids beyond ustar\n")
    os.chown(j(b"bigids"), 3_000_000, 4_000_000)
    write(j(b"hard1"), b"one inode, three names\n")
    os.link(j(b"hard1"), j(b"hard2"))
    os.link(j(b"hard1"), j(b"sticky", b"hard3"))
    os.symlink(b"plain.txt", j(b"link"))
    os.symlink(b"t" * 300, j(b"longlink"))
    os.symlink(b"../nowhere", j(b"dangling"))
    os.mkfifo(j(b"fifo"), 0o640)
    os.mknod(j(b"chardev"), 0o20620, os.makedev(4, 64))
    os.mknod(j(b"blockdev"), 0o60600, os.makedev(259, 3000))
    _make_sparse(j(b"sparse.img"))
    write(j(b"xattrs"), b"x\n")
    for name, value in ((b"user.comment", b"hi"), (b"trusted.t", b"\x00\x01binary"),
                        (b"security.s", b"sec"), (b"user.has=equals", b"v")):
        os.setxattr(j(b"xattrs"), name, value)
    # POSIX ACLs, set as the kernel's xattr bytes (what `setfacl -m u:nobody:r--,g:nogroup:rw-`
    # and `setfacl -d -m u:nobody:rwx` write), so the tests need no acl package.
    write(j(b"acl"), b"acl\n")
    os.setxattr(j(b"acl"), b"system.posix_acl_access", acl_text_to_xattr(
        "user::rw-\nuser:65534:r--\ngroup::r--\ngroup:65534:rw-\nmask::rw-\nother::r--\n"))
    os.mkdir(j(b"acldir"))
    os.setxattr(j(b"acldir"), b"system.posix_acl_default", acl_text_to_xattr(
        "user::rwx\nuser:65534:rwx\ngroup::r-x\nmask::rwx\nother::r-x\n"))
    for path in all_paths(root):
        os.utime(path, ns=(NS_MTIME - 7, NS_MTIME), follow_symlinks=False)


def make_very_long_path(root: bytes) -> bytes:
    """A file under ``root`` whose path is longer than 4096 bytes (PATH_MAX); returns the
    path relative to root. Built with relative steps, as no absolute call can reach it."""
    os.makedirs(root)
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    parts = []
    for i in range(20):
        part = (b"%02d" % i) + b"x" * 240
        os.mkdir(part, dir_fd=fd)
        new = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = new
        parts.append(part)
    out = os.open(b"deep.txt", os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=fd)
    os.write(out, b"deep\n")
    os.close(out)
    os.close(fd)
    return b"/".join(parts + [b"deep.txt"])


def _make_sparse(path: bytes) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
    os.pwrite(fd, b"A" * 5000, 0)
    os.pwrite(fd, b"B" * 3000, 1 << 20)
    os.ftruncate(fd, 3 << 20)
    os.close(fd)


def all_paths(root: bytes):
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield os.path.join(dirpath, name)


def snapshot(root: bytes, *, skip: tuple[bytes, ...] = ()) -> dict:
    """relative path -> every property a faithful restore keeps; hard links as groups."""
    files, inodes = {}, {}
    for path in all_paths(root):
        rel = os.path.relpath(path, root)
        if any(rel == s or rel.startswith(s + b"/") for s in skip):
            continue
        st = os.lstat(path)
        props = {"mode": st.st_mode, "uid": st.st_uid, "gid": st.st_gid}
        if not stat.S_ISLNK(st.st_mode):
            props["mtime_ns"] = st.st_mtime_ns
            props["xattrs"] = {n: os.getxattr(path, n, follow_symlinks=False)
                               for n in sorted(os.listxattr(path, follow_symlinks=False))}
        if stat.S_ISREG(st.st_mode):
            props.update(size=st.st_size, sha256=sha256_file(path),
                         sparse=st.st_blocks * 512 < st.st_size)
            if st.st_nlink > 1:
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
        elif stat.S_ISLNK(st.st_mode):
            props["target"] = os.readlink(path)
        elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            props["rdev"] = st.st_rdev
        files[rel] = props
    return {"files": files, "hardlinks": sorted(sorted(g) for g in inodes.values())}


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
