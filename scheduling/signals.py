"""Receivers: a tape move re-checks runs waiting for media after the move commits."""

from __future__ import annotations

import logging

from django.db import transaction

logger = logging.getLogger(__name__)


def tape_moved(sender, instance, created, **kwargs) -> None:
    if created and instance.place == "library":
        transaction.on_commit(_recheck)


def _recheck() -> None:
    from scheduling.services import runs_recheck_media

    try:
        runs_recheck_media()
    except Exception:  # never break a tape move; the scheduler tick re-checks anyway
        logger.exception("Re-checking runs waiting for media failed")
