"""Default schedules, created once and then the operator's to edit: a daily retention check,
an hourly health check, and the django-q2 schedule that runs our scheduler tick every minute.
(Monthly full backups are created per backup job by ``schedule_defaults_for_job``.)"""

from django.conf import settings
from django.db import migrations
from django.utils import timezone

from scheduling.cron import next_after
from scheduling.conf import TICK_FUNC, TICK_NAME

DEFAULTS = [
    ("Daily retention check", "retention", "30 5 * * *", 1),
    ("Hourly health check", "health", "7 * * * *", 0),
]


def create(apps, schema_editor):
    Schedule = apps.get_model("scheduling", "Schedule")
    QSchedule = apps.get_model("django_q", "Schedule")
    now = timezone.now()
    tz = settings.TIME_ZONE
    for name, kind, cron, retries in DEFAULTS:
        Schedule.objects.get_or_create(name=name, defaults=dict(
            kind=kind, cron=cron, time_zone=tz, retry_attempts=retries,
            next_run_at=next_after(cron, tz, now)))
    QSchedule.objects.update_or_create(name=TICK_NAME, defaults=dict(
        func=TICK_FUNC, schedule_type="I", minutes=1, repeats=-1, next_run=now, cluster=None,
        kwargs="q_options={'timeout': 120, 'ack_failure': True}"))


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=TICK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("scheduling", "0001_initial"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]

    operations = [migrations.RunPython(create, remove)]
