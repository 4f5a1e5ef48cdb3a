"""Formatting for the console's templates: sizes, rates, ETAs, state colours."""

from __future__ import annotations

import datetime as dt

from django import template
from django.utils import timezone

register = template.Library()

_STATE_CLASS = {
    "succeeded": "ok", "complete": "ok", "warnings": "warn", "waiting_drive": "wait",
    "waiting_media": "wait", "queued": "wait", "running": "run", "failed": "bad",
    "interrupted": "bad", "cancelled": "muted", "critical": "bad", "warning": "warn",
    "damaged": "bad", "retired": "muted",
}


@register.filter
def size(value) -> str:
    """Bytes in decimal units, as tape vendors count them: 1.2 TB."""
    if value is None:
        return "—"
    n = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return str(value)


@register.filter
def rate(value) -> str:
    return "—" if not value else f"{size(value)}/s"


@register.filter
def eta(value) -> str:
    """An ETA as "in 3 min (14:05)"."""
    if not value:
        return "—"
    left = (value - timezone.now()).total_seconds()
    if left <= 0:
        return "any moment"
    when = timezone.localtime(value)
    return f"in {duration(left)} ({when:%H:%M})"


@register.filter
def duration(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds.total_seconds() if isinstance(seconds, dt.timedelta) else seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    return f"{seconds // 86400} days"


@register.filter
def state_class(value) -> str:
    return _STATE_CLASS.get(str(value), "")


@register.filter
def mtime(ns) -> str:
    if not ns:
        return ""
    when = dt.datetime.fromtimestamp(ns / 1e9, tz=dt.timezone.utc)
    return f"{timezone.localtime(when):%Y-%m-%d %H:%M}"


@register.simple_tag(takes_context=True)
def query(context, **changes) -> str:
    """The current query string with some parameters changed (paging links)."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value in (None, ""):
            params.pop(key, None)
        else:
            params[key] = value
    return "?" + params.urlencode() if params else "?"
