"""``catalog find`` lists every version of matching files across jobs and sets;
``catalog browse`` lists one directory of a set with counts and sizes."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from backups.catalog_search import catalog_browse, catalog_find


@pytest.fixture
def two_jobs(make_job, backup, tmp_path):
    etc = tmp_path / "etc"
    (etc / "ssh").mkdir(parents=True)
    (etc / "ssh" / "sshd.conf").write_text("Port 22\n")
    (etc / "hosts").write_text("127.0.0.1 localhost\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / "app.conf").write_text("x = 1\n")
    etc_job = make_job(str(etc), name="etc")
    first = backup(etc_job)
    second = backup(etc_job)
    third = backup(make_job(str(home), name="homes"))
    return etc, home, first, second, third


def test_find_by_glob_and_substring_lists_every_version(two_jobs):
    etc, home, first, second, third = two_jobs
    versions = catalog_find("*.conf")
    assert [(v["path"], v["set"]) for v in versions] == [
        (str(etc / "ssh" / "sshd.conf"), second.pk), (str(etc / "ssh" / "sshd.conf"), first.pk),
        (str(home / "app.conf"), third.pk)]
    assert versions[0]["size"] == 8 and len(versions[0]["checksum"]) == 64
    assert versions[0]["tapes"] == [second.segments.get().tape.barcode]
    assert [v["set"] for v in catalog_find("sshd", job="etc")] == [second.pk, first.pk]
    assert catalog_find(f"{etc}/*/sshd.conf", job="etc")[0]["path"].endswith("ssh/sshd.conf")
    assert catalog_find("*.conf", job="homes")[0]["set"] == third.pk


def test_find_command_json_and_errors(two_jobs, capsys):
    call_command("catalog", "find", "hosts", "--json")
    found = json.loads(capsys.readouterr().out)
    assert {v["job"] for v in found} == {"etc"} and len(found) == 2
    with pytest.raises(CommandError, match="Nothing in the catalog matches"):
        call_command("catalog", "find", "no-such-file")
    with pytest.raises(CommandError, match="no backup job named 'nope'"):
        call_command("catalog", "find", "x", "--job", "nope")


def test_browse_one_directory_with_counts(two_jobs, capsys):
    etc, _, _, second, _ = two_jobs
    listing = catalog_browse(backup_set=second, directory=str(etc))
    assert [e["name"] for e in listing["entries"]] == ["hosts", "ssh"]
    ssh = listing["entries"][1]
    assert ssh["type"] == "directory" and (ssh["entries"], ssh["bytes"]) == (1, 8)
    call_command("catalog", "browse", "--set", str(second.pk), str(etc))
    assert "hosts" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no backup set 999"):
        call_command("catalog", "browse", "--set", "999")
