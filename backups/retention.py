"""The retention check: expire sets by their job's policy, protect and recycle tapes."""

from __future__ import annotations

from django.utils import timezone

from tapes.models import RetentionPolicy
from tapes.retention_policy import FOREVER


def provisional_days(policy: RetentionPolicy) -> int:
    """Days a just-written set is protected under ``policy``: its span for a time-span
    policy, else as good as forever (the retention check sets the real protection)."""
    if policy.kind == RetentionPolicy.Kind.TIME:
        return policy.keep_days
    return (FOREVER - timezone.now()).days - 1
