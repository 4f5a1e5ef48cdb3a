"""The catalog's optional search index: a trigram index on catalog paths (PostgreSQL).

``catalog find`` matches with ``LIKE '%…%'`` (and ``~`` for globs, with the glob's longest
literal as an extra ``LIKE``). Without an index that is a scan of the catalog (on
PostgreSQL about 200 ms per million rows, in parallel); a GIN ``gin_trgm_ops`` index on
``path`` answers the same searches in 10–50 ms, names too (a name's substring is a
substring of its path, and ``catalog_find`` adds that condition).

It is off by default because every catalog row then costs the server a trigram
extraction: loading runs at about a third of the speed (docs/benchmarks.md), and a backup of
many small files waits for its catalog. An installation that searches large catalogs
often turns it on with ``manage.py catalog search-index on`` (built with ``CREATE INDEX
CONCURRENTLY``: backups and restores go on meanwhile) and off again with ``off``.
"""

from __future__ import annotations

from django.db import connection

from backups.errors import JobError
from backups.models import CatalogEntry

INDEX = "catalog_path_trgm"


def search_index_enabled() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_indexes WHERE indexname = %s", [INDEX])
        return cursor.fetchone() is not None


def search_index_enable() -> bool:
    """Build the index (False when it was already there)."""
    _require_postgresql()
    if search_index_enabled():
        return False
    table = CatalogEntry._meta.db_table
    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except Exception as exc:  # typically: permission denied to create extension
            reason = " ".join(str(exc).split())
            raise JobError("The database user may not create the pg_trgm extension; ask the "
                           f"DBA to run CREATE EXTENSION pg_trgm ({reason}).") from exc
        # CONCURRENTLY cannot run in a transaction: Django's autocommit is on here.
        cursor.execute(f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{INDEX}" '
                       f'ON "{table}" USING gin ("path" gin_trgm_ops)')
    return True


def search_index_disable() -> bool:
    """Drop the index (False when there was none)."""
    _require_postgresql()
    if not search_index_enabled():
        return False
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{INDEX}"')
    return True


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise JobError("The search index needs PostgreSQL; on SQLite catalog find scans "
                       "the catalog.")
    if connection.in_atomic_block:
        raise JobError("The search index is built concurrently, outside a transaction.")
