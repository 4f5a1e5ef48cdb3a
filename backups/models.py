"""Backup jobs, sets, segments, the catalog (see the backup engine issue)."""
