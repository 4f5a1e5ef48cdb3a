"""/metrics speaks the Prometheus text format with the figures operators alert on; /health
is a small JSON answer with nothing sensitive in it."""

from __future__ import annotations

import re

from django.urls import reverse

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="(\\.|[^"\\])*",?)*\})? (-?[0-9.e+]+|NaN)$')


def parse(text: str) -> dict[str, list[str]]:
    """Samples by metric name; fails on any line that is not valid exposition format."""
    samples: dict[str, list[str]] = {}
    types = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            types.add(line.split()[2])
            continue
        if line.startswith("# HELP "):
            continue
        assert SAMPLE.match(line), line
        name = line.split("{")[0].split(" ")[0]
        assert name in types, f"{name} has no TYPE line"
        samples.setdefault(name, []).append(line)
    return samples


def test_metrics_cover_runs_backups_tapes_scratch_drives_and_clusters(client, scene):
    response = client.get(reverse("console:metrics"))
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    m = parse(response.content.decode())
    assert 'tapebackup_job_runs{kind="backup",state="running"} 1' in m["tapebackup_job_runs"]
    assert 'tapebackup_job_runs{kind="verify",state="failed"} 1' in m["tapebackup_job_runs"]
    assert 'tapebackup_backup_bytes{job="home"} 40' in m["tapebackup_backup_bytes"]
    assert 'tapebackup_backup_files{job="home"} 5' in m["tapebackup_backup_files"]
    assert m["tapebackup_last_successful_backup_timestamp_seconds"][0].startswith(
        'tapebackup_last_successful_backup_timestamp_seconds{job="home"} ')
    assert 'tapebackup_tapes{pool="daily",status="writable"} 1' in m["tapebackup_tapes"]
    assert 'tapebackup_tapes{pool="",status="new"} 3' in m["tapebackup_tapes"]
    assert 'tapebackup_scratch_tapes{pool="daily"} 3' in m["tapebackup_scratch_tapes"]
    assert 'tapebackup_scratch_tapes_minimum{pool="daily"} 5' in m[
        "tapebackup_scratch_tapes_minimum"]
    assert 'tapebackup_drive_cleaning_due{library="lib1",drive="0"} 0' in m[
        "tapebackup_drive_cleaning_due"]
    assert "tapebackup_drive_error" in m and "tapebackup_tape_read_errors" in m
    age = m["tapebackup_cluster_heartbeat_age_seconds"][0]
    assert age.startswith('tapebackup_cluster_heartbeat_age_seconds{cluster="tapebackup",'
                          'host="node-a"} ')


def test_cleaning_due_follows_the_drive(client, scene):
    scene.drive.cleaning_requested = True
    scene.drive.save()
    m = parse(client.get(reverse("console:metrics")).content.decode())
    assert 'tapebackup_drive_cleaning_due{library="lib1",drive="0"} 1' in m[
        "tapebackup_drive_cleaning_due"]


def test_metrics_token_when_configured(client, scene, settings):
    settings.TAPEBACKUP_METRICS_TOKEN = "s3cret"
    assert client.get(reverse("console:metrics")).status_code == 401
    ok = client.get(reverse("console:metrics"), HTTP_AUTHORIZATION="Bearer s3cret")
    assert ok.status_code == 200


def test_health_is_small_json_without_secrets(client, scene):
    response = client.get(reverse("console:health"))
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["clusters"]["tapebackup"]["alive"] is True
    assert body["last_report"]["status"] == "warning"
    assert body["status"] == "warning"  # the last health report's status, clusters alive
    text = response.content.decode()
    assert "node-a" not in text and "scratch" not in text  # no hosts, no reasons


def test_health_is_critical_when_a_cluster_is_silent(client, db):
    body = client.get(reverse("console:health")).json()
    assert body["status"] == "critical" and body["clusters"]["tapebackup"]["alive"] is False
