"""Compare two trees property by property, as a restore must reproduce them."""

from __future__ import annotations

import hashlib
import os
import stat

from tapes.format.entry import acl_xattr_to_text


def snapshot(root: bytes) -> dict:
    """relpath -> properties; hard links as groups of relpaths."""
    result = {}
    inodes: dict = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [b""] if dirpath == root else []:
            pass
        for path in [dirpath] + [os.path.join(dirpath, n) for n in dirnames + filenames]:
            rel = os.path.relpath(path, root)
            if rel in result:
                continue
            st = os.lstat(path)
            props = {
                "mode": st.st_mode,
                "uid": st.st_uid,
                "gid": st.st_gid,
                "mtime_ns": st.st_mtime_ns if not stat.S_ISLNK(st.st_mode) else None,
            }
            if stat.S_ISREG(st.st_mode):
                props["sha256"] = _sha256(path)
                props["size"] = st.st_size
                props["sparse"] = st.st_blocks * 512 < st.st_size
                if st.st_nlink > 1:
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            elif stat.S_ISLNK(st.st_mode):
                props["target"] = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                props["rdev"] = st.st_rdev
            if not stat.S_ISLNK(st.st_mode):
                props["xattrs"] = _xattrs(path)
            result[rel] = props
    groups = sorted(sorted(g) for g in inodes.values())
    return {"files": result, "hardlinks": groups}


def _sha256(path: bytes) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _xattrs(path: bytes) -> dict:
    out = {}
    for name in os.listxattr(path, follow_symlinks=False):
        value = os.getxattr(path, name, follow_symlinks=False)
        if name.startswith("system.posix_acl_"):
            value = acl_xattr_to_text(value)
        out[name] = value
    return out
