"""Low-level ustar / pax header building and parsing, shaped the way GNU tar 1.34 writes
``--format=pax`` (verified against its output; see tests/format/test_gnu_tar_layout.py).

What GNU tar 1.34 does, and we copy:
- every member gets an extended header named ``<dir>/PaxHeaders/<base>`` (``.`` for a
  top-level name; truncated to 100 bytes) with ``mtime``/``atime``/``ctime`` to the
  nanosecond (trailing zeros dropped);
- ``path``/``linkpath`` records when a name is longer than 100 bytes or not pure ASCII (no
  ``hdrcharset`` record, even for names that are not UTF-8); the ustar name field then
  holds the first 100 bytes, the prefix field stays empty;
- ``uid``/``gid``/``size`` records when the value does not fit the octal field (the field
  is then 0), ``uname``/``gname`` records for names not fitting 32 ASCII bytes;
- extended and global headers have mode 0644, owner 0/0, empty owner names and zeroed
  device fields; real members have ``0000000`` device fields.
"""

from __future__ import annotations

import struct

MAX_OCTAL_7 = 0o7777777
MAX_OCTAL_11 = 0o77777777777
BLOCK = 512
ZERO_BLOCK = bytes(BLOCK)
_NUL_DEV = bytes(16)
_ZERO_DEV = b"0000000\x000000000\x00"
_MAGIC = b"ustar\x0000"

# The writer builds a header per member, so the block is packed in one call: struct's
# "100s" truncates and NUL-pads a field exactly as name[:100].ljust(100, b"\0") would, and
# the checksum is summed from the parts (NUL padding adds nothing) instead of the block.
_USTAR = struct.Struct("100s48s8s1s100s8s32s32s16s167x")
_NUMBERS = b"%07o\x00%07o\x00%07o\x00%011o\x00%011o\x00"  # mode uid gid size mtime
_CHKSUM = b"%06o\x00 "
_BLANK_SUM = 8 * 32 + sum(_MAGIC)  # the checksum field counts as spaces, plus the magic
_ZERO_DEV_SUM = sum(_ZERO_DEV)
# Extended and global headers: mode 0644, owner 0/0, no link/owner names, NUL devices.
_PRIVATE_MODE = b"0000644\x000000000\x000000000\x00"
_PRIVATE_SUM = _BLANK_SUM + sum(_PRIVATE_MODE)


class FormatError(ValueError):
    """The bytes read are not a valid archive of the kind expected. One sentence."""


def ustar_header(
    name: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    typeflag: bytes,
    linkname: bytes = b"",
    uname: bytes = b"",
    gname: bytes = b"",
    devmajor: int = 0,
    devminor: int = 0,
    *,
    private: bool = False,
) -> bytes:
    """One 512-byte ustar header block. Values must already fit their fields (callers move
    what does not fit into the extended header and pass 0)."""
    if private:
        devs, devsum = _NUL_DEV, 0
    elif devmajor or devminor:
        devs = _dev_field(devmajor) + _dev_field(devminor)
        devsum = sum(devs)
    else:
        devs, devsum = _ZERO_DEV, _ZERO_DEV_SUM
    numbers = _NUMBERS % (mode, uid, gid, size, mtime)
    name, linkname, uname, gname = name[:100], linkname[:100], uname[:32], gname[:32]
    checksum = (_BLANK_SUM + sum(name) + sum(numbers) + typeflag[0] + sum(linkname)
                + sum(uname) + sum(gname) + devsum)
    return _USTAR.pack(name, numbers, _CHKSUM % checksum, typeflag, linkname, _MAGIC, uname,
                       gname, devs)


def _dev_field(value: int) -> bytes:
    if value <= MAX_OCTAL_7:
        return b"%07o\0" % value
    return b"\x80" + value.to_bytes(7, "big")  # GNU base-256


def _record_length(body: int) -> int:
    length = body + len(str(body))
    if len(str(length)) != len(str(body)):
        length += 1
    return length


# Record lengths by body length (keyword + value + 3), looked up for every record written.
_RECORD_LENGTHS = [_record_length(body) for body in range(4096)]


def pax_record(keyword: bytes, value: bytes) -> bytes:
    """``"<len> <keyword>=<value>\\n"`` where len counts the whole record, itself included."""
    body = len(keyword) + len(value) + 3  # space, '=', newline
    length = _RECORD_LENGTHS[body] if body < 4096 else _record_length(body)
    return b"%d %s=%s\n" % (length, keyword, value)


def pax_time(ns: int) -> bytes:
    """Seconds with up to nine decimals, trailing zeros dropped, as GNU tar writes them."""
    sign = b"-" if ns < 0 else b""
    seconds, fraction = divmod(abs(ns), 1_000_000_000)
    if not fraction:
        return b"%s%d" % (sign, seconds)
    return b"%s%d.%s" % (sign, seconds, (b"%09d" % fraction).rstrip(b"0"))


def pax_header_name(name: bytes, kind: bytes = b"PaxHeaders") -> bytes:
    """``<dir>/PaxHeaders/<base>`` (GNU's ``%d/PaxHeaders/%f``), also used for
    ``GNUFileParts`` and ``GNUSparseFile.<pid>``."""
    stripped = name.rstrip(b"/") or name
    head, sep, base = stripped.rpartition(b"/")
    return (head if sep else b".") + b"/" + kind + b"/" + base


def padded(size: int) -> int:
    return (size + BLOCK - 1) & ~(BLOCK - 1)


def extended_header(name: bytes, records: bytes, mtime: int, typeflag: bytes = b"x") -> bytes:
    """An extended (``x``) or global (``g``) header with its data, padded to blocks."""
    size = len(records)
    return private_header(name, size, mtime, typeflag) + records + bytes(-size % BLOCK)


def private_header(name: bytes, size: int, mtime: int, typeflag: bytes = b"x") -> bytes:
    """The header block of an extended or global header: what
    ``ustar_header(name, 0o644, 0, 0, size, mtime, typeflag, private=True)`` gives."""
    sizes = b"%011o\x00%011o\x00" % (size, mtime)
    name = name[:100]
    checksum = _PRIVATE_SUM + sum(name) + sum(sizes) + typeflag[0]
    return _USTAR.pack(name, _PRIVATE_MODE + sizes, _CHKSUM % checksum, typeflag, b"", _MAGIC,
                       b"", b"", _NUL_DEV)


# --- parsing -----------------------------------------------------------------------------


def parse_number(field: bytes, what: str) -> int:
    """An octal field (NUL/space terminated) or GNU base-256; negative values are refused."""
    if field[:1] == b"\x80":
        return int.from_bytes(field[1:], "big")
    if field[:1] == b"\xff":
        raise FormatError(f"The header's {what} field is negative.")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    try:
        return int(text, 8)
    except ValueError:
        raise FormatError(f"The header's {what} field is not a number: {text[:20]!r}.") from None


def header_checksum_ok(block: bytes | memoryview) -> bool:
    block = bytes(block)
    try:
        stored = parse_number(block[148:156], "checksum")
    except FormatError:
        return False
    unsigned = sum(block[:148]) + 256 + sum(block[156:])
    if stored == unsigned:
        return True
    signed = unsigned - sum(b for b in block[:148] + block[156:] if b > 127) * 2  # old tars
    return stored == signed


def parse_pax_records(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split pax extended header data into (keyword, value) pairs, strictly."""
    records = []
    pos = 0
    end = len(data)
    while pos < end:
        if data[pos] == 0:  # GNU and others pad with NULs
            if data[pos:].strip(b"\0"):
                raise FormatError("The extended header has data after its NUL padding.")
            break
        space = data.find(b" ", pos, min(end, pos + 21))
        digits = data[pos:space] if space > 0 else b""
        if not digits.isdigit():
            raise FormatError("An extended header record does not start with its length.")
        length = int(digits)
        if length <= len(digits) + 1 or pos + length > end or data[pos + length - 1] != 10:
            raise FormatError("An extended header record has a wrong length.")
        keyword, eq, value = data[space + 1 : pos + length - 1].partition(b"=")
        if not eq or not keyword:
            raise FormatError("An extended header record has no keyword.")
        records.append((keyword, value))
        pos += length
    return records


def parse_pax_time(value: bytes) -> int:
    """pax decimal seconds -> nanoseconds."""
    text = value.decode("ascii", "replace")
    negative = text.startswith("-")
    whole, _, frac = text.lstrip("-").partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()) or len(whole) > 20:
        raise FormatError(f"An extended header time is not a number: {text[:30]!r}.")
    ns = int(whole) * 1_000_000_000 + int((frac[:9]).ljust(9, "0") or 0)
    return -ns if negative else ns


def parse_pax_int(value: bytes, what: str, limit: int = 1 << 63) -> int:
    if not value.isdigit() or len(value) > 20:
        raise FormatError(f"The extended header's {what} is not a non-negative number.")
    number = int(value)
    if number >= limit:
        raise FormatError(f"The extended header's {what} is absurdly large ({number}).")
    return number


def encode_xattr_name(name: str) -> bytes:
    """GNU tar's escaping of ``=`` and ``%`` in ``SCHILY.xattr.<name>`` keywords."""
    raw = name.encode("utf-8", "surrogateescape")
    return raw.replace(b"%", b"%25").replace(b"=", b"%3D")


def decode_xattr_name(raw: bytes) -> str:
    return raw.replace(b"%3D", b"=").replace(b"%25", b"%").decode("utf-8", "surrogateescape")
