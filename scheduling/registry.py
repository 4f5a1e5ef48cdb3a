"""The job-kind registry: what each kind of run calls, whether it needs a drive, its limits.

A kind's ``call(run, context, drive)`` calls exactly one service and returns a one-line
result text (or ``None``). It reports warnings with ``context.log(..., level="warning")``,
waits by raising ``NeedsMedia``/``NeedsDrive``, fails by raising ``JobError`` (one sentence)
and stops at ``context.check_cancelled()``. Adapters for services that other issues deliver
import them lazily (``scheduling.kinds``), so a missing service fails only its own runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class KindNotAvailable(Exception):
    """The service behind a kind is not installed yet."""


@dataclass(frozen=True)
class JobKindSpec:
    kind: str
    call: Callable[..., str | None]
    label: str = ""
    # Needs a tape drive (reserved before the run is queued): bool or params -> bool.
    needs_drive: bool | Callable[[dict], bool] = False
    # Media type name the drive must take, from the params (None: any data drive).
    media_type: Callable[[dict], str | None] = field(default=lambda params: None)
    # Seconds (or params -> seconds); the task is killed after it, the lease is this + margin.
    timeout: int | Callable[[dict], int] = 600
    # The node the run must execute on (e.g. the library's for an inventory), from the params.
    node: Callable[[dict], str | None] = field(default=lambda params: None)
    # The library whose drive the run needs (the one holding its tapes), from the params.
    library: Callable[[dict], str | None] = field(default=lambda params: None)
    # Only registered when TAPEBACKUP_TEST_JOB_KINDS is on (the multi-process tests).
    test_only: bool = False

    def drive_needed(self, params: dict) -> bool:
        return self.needs_drive(params) if callable(self.needs_drive) else bool(self.needs_drive)

    def timeout_for(self, params: dict) -> int:
        return int(self.timeout(params) if callable(self.timeout) else self.timeout)

    def node_for(self, params: dict) -> str | None:
        return self.node(params)


_REGISTRY: dict[str, JobKindSpec] = {}


def register(spec: JobKindSpec) -> JobKindSpec:
    _REGISTRY[spec.kind] = spec
    return spec


def job_kind(kind: str, **options: Any):
    """Decorator: ``@job_kind("health", timeout=300)`` registers the function as the kind."""

    def wrap(func):
        register(JobKindSpec(kind=kind, call=func, **options))
        return func

    return wrap


def get_kind(kind: str) -> JobKindSpec | None:
    from scheduling import conf, kinds  # noqa: F401  (importing kinds registers them)

    spec = _REGISTRY.get(kind)
    if spec is not None and spec.test_only and not conf.test_kinds_enabled():
        return None
    return spec


def kinds() -> list[str]:
    from scheduling import kinds as _  # noqa: F401

    return sorted(k for k in _REGISTRY if get_kind(k) is not None)
