"""The catalog's public services (find, browse, rebuild); implemented in
``backups.catalog_search``. The engine's batch loader is ``backups.catalog_load``."""

from backups.catalog_search import (  # noqa: F401
    RebuildReport, catalog_browse, catalog_find, catalog_rebuild,
)
