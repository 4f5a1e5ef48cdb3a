"""The on-tape format (DESIGN §4): every tape can be read with ``mt`` and GNU ``tar`` alone.

Plain Python, no Django. Public names (stable):

``entry``
    ``Entry`` (one member: name/linkname as bytes, ``EntryType``, mode, owners, ns times,
    device numbers, xattrs of all namespaces, ACL text, sparse regions, inode key),
    ``entry_from_path(path, arcname, *, hardlinks) -> Entry`` (``os.lstat``, never follows
    symlinks; FileNotFoundError if the file vanished), ``iter_file_data(path, entry)`` (the
    chunks ``PaxWriter.add`` expects), ``acl_xattr_to_text`` / ``acl_text_to_xattr``.
``pax``
    ``PaxWriter(drive, *, record_size=262144, on_volume_full=None)`` with
    ``add(entry, data=None) -> MemberInfo`` and ``close() -> ArchiveSummary``;
    ``ArchiveFull`` (early warning with no next volume).
``reader``
    ``PaxReader(drive, *, record_size=None, start_offset=0, on_volume_end=None)``:
    iterate ``(Entry, MemberData)``, ``next_member(expected_checksum=None)``;
    ``ChecksumMismatch``. ``headers.FormatError`` for anything malformed.
``label``
    ``TapeLabel``, ``write_label(drive, label)``, ``read_label(drive) -> TapeLabel | None``,
    ``ForeignLabel``.
``index``
    ``write_index(drive, set_record, rows) -> IndexSummary``,
    ``read_index(drive) -> (set_record, rows)``, ``catalog_row(entry, member_info)``; the
    schema is in ``tapes.format.index``'s docstring.

A tape: file 0 = label; then per backup-set segment a data file (pax archive, continued
on the next tape in GNU ``tar -M`` form when early warning is reached) and an index file.
"""

from .entry import Entry, EntryType, entry_from_path, iter_file_data
from .headers import FormatError
from .index import IndexSummary, catalog_row, read_index, write_index
from .label import ForeignLabel, TapeLabel, read_label, write_label
from .pax import ArchiveFull, ArchiveSummary, MemberInfo, PaxWriter
from .reader import ChecksumMismatch, MemberData, PaxReader

__all__ = [
    "ArchiveFull",
    "ArchiveSummary",
    "ChecksumMismatch",
    "Entry",
    "EntryType",
    "ForeignLabel",
    "FormatError",
    "IndexSummary",
    "MemberData",
    "MemberInfo",
    "PaxReader",
    "PaxWriter",
    "TapeLabel",
    "catalog_row",
    "entry_from_path",
    "iter_file_data",
    "read_index",
    "read_label",
    "write_index",
    "write_label",
]
