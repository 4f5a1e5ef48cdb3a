"""Trigram indexes for `catalog find` on PostgreSQL: substring and glob searches on catalog
paths and names (``backups.catalog_search._match`` filters with LIKE '%…%' and ~, which a
GIN gin_trgm_ops index serves).

PostgreSQL only, and only where the database user may create the pg_trgm extension: without
it the migration says so and goes on — `catalog find` still works, by a sequential scan.
The indexes are not in CatalogEntry.Meta because SQLite has no equivalent.
"""

from django.db import migrations, transaction

INDEXES = {
    "catalog_path_trgm": "path",
    "catalog_name_trgm": "name",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("backups", "CatalogEntry")._meta.db_table
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # typically: permission denied to create extension
        print(f"\n  Skipping the catalog's trigram indexes: {exc}".rstrip())
        return
    for name, column in INDEXES.items():
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ("{column}" gin_trgm_ops)'
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("backups", "0003_verify_results_foreign")]
    operations = [migrations.RunPython(create, drop)]
