"""Trees of awkward files for the format tests (run as root: device nodes, chown,
trusted.* xattrs). ACLs are written as the kernel's xattr bytes: no setfacl needed."""

from __future__ import annotations

import os

from tapes.format.entry import acl_text_to_xattr

NS_MTIME = 1_700_000_000_123_456_789
NON_UTF8 = b"caf\xe9-\xff\xfe.txt"
LONG_NAME = b"d" * 80 + b"/" + b"f" * 90 + b".data"


def make_awkward_tree(root: bytes) -> None:
    os.makedirs(root)
    j = lambda *parts: os.path.join(root, *parts)  # noqa: E731
    _write(j(b"plain.txt"), b"hello tape\n")
    _write(j(b"empty"), b"")
    _write(j(b"big.bin"), os.urandom(700_000))
    _write(j(NON_UTF8), b"latin-1 name\n")
    os.makedirs(os.path.dirname(j(LONG_NAME)))
    _write(j(LONG_NAME), b"long name\n")
    _write(j(b"setuid"), b"#!/bin/sh\n")
    os.chmod(j(b"setuid"), 0o4755)
    _write(j(b"setgid"), b"g\n")
    os.chmod(j(b"setgid"), 0o2750)
    os.mkdir(j(b"sticky"))
    os.chmod(j(b"sticky"), 0o1777)
    _write(j(b"owned"), b"owned by uid 1000\n")
    os.chown(j(b"owned"), 1000, 1000)
    _write(j(b"bigids"), b"ids beyond ustar\n")
    os.chown(j(b"bigids"), 3_000_000, 4_000_000)
    _write(j(b"hard1"), b"one inode, three names\n")
    os.link(j(b"hard1"), j(b"hard2"))
    os.link(j(b"hard1"), j(b"sticky", b"hard3"))
    os.symlink(b"plain.txt", j(b"link"))
    os.symlink(b"t" * 300, j(b"longlink"))
    os.symlink(b"../nowhere", j(b"dangling"))
    os.mkfifo(j(b"fifo"), 0o640)
    os.mknod(j(b"chardev"), 0o20620, os.makedev(4, 64))
    os.mknod(j(b"blockdev"), 0o60600, os.makedev(259, 3000))
    _make_sparse(j(b"sparse.img"))
    _write(j(b"xattrs"), b"x\n")
    for name, value in ((b"user.comment", b"hi"), (b"trusted.t", b"\x00\x01binary"),
                        (b"security.s", b"sec"), (b"user.has=equals", b"v")):
        os.setxattr(j(b"xattrs"), name, value)
    _write(j(b"acl"), b"acl\n")
    os.setxattr(j(b"acl"), b"system.posix_acl_access",
                acl_text_to_xattr("user::rw-\nuser:1000:r--\ngroup::r--\nmask::r--\nother::---\n"))
    os.mkdir(j(b"acldir"))
    os.setxattr(j(b"acldir"), b"system.posix_acl_default",
                acl_text_to_xattr("user::rwx\nuser:1000:rwx\ngroup::r-x\nmask::rwx\nother::r-x\n"))
    for path in _all_paths(root):
        os.utime(path, ns=(NS_MTIME - 7, NS_MTIME), follow_symlinks=False)


def make_very_long_path(root: bytes) -> bytes:
    """A file whose path is longer than 4096 bytes (PATH_MAX), built with relative steps."""
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


def _write(path: bytes, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


def _make_sparse(path: bytes) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
    os.pwrite(fd, b"A" * 5000, 0)
    os.pwrite(fd, b"B" * 3000, 1 << 20)
    os.ftruncate(fd, 3 << 20)
    os.close(fd)


def _all_paths(root: bytes):
    yield root
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield os.path.join(dirpath, name)
