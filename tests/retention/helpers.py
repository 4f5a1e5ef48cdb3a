"""Building blocks for the retention tests: sets as the pure evaluation sees them."""

from __future__ import annotations

import datetime as dt

from tapes.retention_policy import SetInfo

UTC = dt.timezone.utc


def at(text: str) -> dt.datetime:
    """An aware datetime from ISO text (``Z`` allowed)."""
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def sets(*rows) -> list[SetInfo]:
    """``sets((1, "2024-01-01T00:00Z"), (2, "…", "failed"))``."""
    return [SetInfo(id=r[0], started_at=at(r[1]), status=r[2] if len(r) > 2 else "complete")
            for r in rows]


def kept(decisions) -> list[int]:
    return sorted(i for i, d in decisions.items() if d.keep)
