"""The scheduling commands' base: the shared subcommand command, plus scheduling's errors
and sorted JSON keys (scripts compare ``jobs list --json`` output)."""

from __future__ import annotations

from scheduling.services import SchedulingError
from tapes.management.commands._base import SubcommandCommand as _Base


class SubcommandCommand(_Base):
    operator_errors = (*_Base.operator_errors, SchedulingError)
    json_sort_keys = True
