"""Email notifications: failed and interrupted runs, runs waiting for media, health changes.

A mail outage must never fail a run or a health check, so sending errors are logged, not
raised. Who gets a run's mail and when follows its schedule (failures / always / never);
runs started by hand notify on failures and waits.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail

logger = logging.getLogger(__name__)

_SUBJECTS = {
    "failed": "failed",
    "interrupted": "was interrupted",
    "waiting_media": "is waiting for media",
    "succeeded": "succeeded",
    "warnings": "succeeded with warnings",
}
_BAD = {"failed", "interrupted", "waiting_media"}


def send(subject: str, body: str, recipients: list[str]) -> bool:
    if not recipients:
        return False
    try:
        send_mail(f"[tapebackup] {subject}", body, settings.DEFAULT_FROM_EMAIL, recipients)
    except Exception:
        logger.exception("Could not send the notification %r", subject)
        return False
    return True


def notify_run(*, run, event: str) -> bool:
    """Mail about a run if its schedule's policy wants this event."""
    if event not in _SUBJECTS:
        return False
    schedule = run.schedule
    policy = schedule.notify if schedule else "failures"
    if policy == "never" or (policy == "failures" and event not in _BAD):
        return False
    recipients = schedule.recipients() if schedule else list(settings.TAPEBACKUP_NOTIFY_EMAILS)
    what = f"{run.kind_label} run #{run.pk}" + (f" ({schedule.name})" if schedule else "")
    lines = [f"{what} {_SUBJECTS[event]}."]
    if run.error:
        lines.append(run.error)
    if event == "waiting_media":
        lines.append(run.waiting_reason)
    if run.drive_id:
        lines.append(f"Drive: {run.drive}")
    lines.append(f"Details: manage.py jobs show {run.pk}")
    return send(f"{what} {_SUBJECTS[event]}", "\n".join(lines), recipients)


def notify_health(*, report, previous) -> bool:
    was = previous.get_status_display() if previous else "unknown"
    body = "\n".join([f"Health changed from {was} to {report.get_status_display()}.", "",
                      *(f"- {r}" for r in report.reasons)])
    return send(f"Health: {report.get_status_display()}", body,
                list(settings.TAPEBACKUP_NOTIFY_EMAILS))
