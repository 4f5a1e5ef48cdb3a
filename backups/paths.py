"""Paths as the catalog stores them: lossless text for any bytes, and a 64-bit key.

File names are bytes (not necessarily UTF-8), but PostgreSQL text and JSON columns only
take valid Unicode, so a surrogate-escaped ``str`` cannot be stored as it is. The catalog
text form is the UTF-8 decoding, with ``\\`` written ``\\\\`` and every byte that is not
valid UTF-8 written ``\\xHH``: readable for the usual names, reversible for all of them.

B-tree index entries are limited (PostgreSQL: about 2700 bytes) and paths may exceed
4096 bytes, so the catalog indexes a 64-bit hash of ``path`` and of ``parent`` instead of
the text; queries compare the hash (indexed) and then the text (exact), see
``backups.models.CatalogQuerySet``.
"""

from __future__ import annotations

import hashlib
import re

_ESCAPED = re.compile(r"\\(\\|x[0-9a-f]{2})")


def path_text(raw: bytes) -> str:
    """Bytes of a path -> the catalog's text form (see the module docstring)."""
    text = raw.decode("utf-8", "surrogateescape").replace("\\", "\\\\")
    if text.isascii():
        return text
    return "".join(f"\\x{ord(ch) - 0xDC00:02x}" if 0xDC80 <= ord(ch) <= 0xDCFF else ch
                   for ch in text)


def path_bytes(text: str) -> bytes:
    """The catalog's text form -> the original bytes (the inverse of ``path_text``)."""
    if "\\" not in text:
        return text.encode("utf-8")
    out = bytearray()
    pos = 0
    for match in _ESCAPED.finditer(text):
        out += text[pos : match.start()].encode("utf-8")
        token = match.group(1)
        out += b"\\" if token == "\\" else bytes([int(token[1:], 16)])
        pos = match.end()
    out += text[pos:].encode("utf-8")
    return bytes(out)


def path_key(text: str) -> int:
    """A signed 64-bit key of a catalog path text (fits a bigint column)."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def split_path(text: str) -> tuple[str, str]:
    """``/srv/a/b`` -> (``/srv/a``, ``b``); ``/srv`` -> (``/``, ``srv``); ``/`` -> ("", "/")."""
    if text == "/":
        return "", "/"
    head, _, name = text.rstrip("/").rpartition("/")
    return head or "/", name
