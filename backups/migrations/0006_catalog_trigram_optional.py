"""The trigram indexes of migration 0004 made loading the catalog about half as fast
(docs/benchmarks.md); the path index is now optional (``manage.py catalog search-index on``,
``backups.search_index``) and the name index is gone (``catalog find`` narrows names by
their path, which the path index serves)."""

from django.db import migrations


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in ("catalog_path_trgm", "catalog_name_trgm"):
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [("backups", "0005_catalog_without_db_foreign_keys")]
    operations = [migrations.RunPython(drop, migrations.RunPython.noop)]
