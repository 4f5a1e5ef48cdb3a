"""The inventory commands: one sentence and a non-zero exit on bad input."""

import json

import pytest
from django.core.management import CommandError, call_command

from tapes.models import Library, Tape


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_vtl_create_makes_the_library_on_disk_and_in_the_inventory(vtl_root, db):
    out = run("vtl", "create", "big", "--drives", "1", "--slots", "8", "--tapes", "3",
              "--capacity", "16M")
    assert "Created virtual library big" in out
    library = Library.objects.get(name="big")
    assert library.drives.count() == 1 and library.slots.count() == 10
    assert sorted(Tape.objects.values_list("barcode", flat=True)) == ["BI0001L8", "BI0002L8",
                                                                     "BI0003L8"]
    assert (vtl_root / "cartridges" / "BI0001L8" / "meta.json").is_file()
    status = run("vtl", "status", "big")
    assert "Storage Element 1:Full :VolumeTag=BI0001L8" in status
    assert "Storage Element 10 IMPORT/EXPORT:Empty" in status


@pytest.mark.parametrize("args,message", [
    (("vtl", "create", "x", "--tapes", "30", "--slots", "24"), "do not fit"),
    (("vtl", "create", "x", "--media", "LTO-99"), "no data media type named 'LTO-99'"),
    (("vtl", "status", "nope"), "no virtual library named 'nope'"),
    (("tape", "load", "ZZ9999L8"), "no tape with barcode 'ZZ9999L8'"),
    (("tape", "unload", "--drive", "tl:1"), "is empty"),
    (("tape", "status", "--drive", "tl:7"), "no drive 'tl:7'"),
    (("tape", "label"), "Name the tapes to label"),
    (("library", "inventory", "nowhere"), "no library named 'nowhere'"),
])
def test_bad_input_gets_one_sentence(vlib, args, message):
    with pytest.raises(CommandError) as info:
        call_command(*args)
    assert message in str(info.value)


def test_bad_size_is_reported_by_argparse(vlib, capsys):
    with pytest.raises(SystemExit):
        from django.core.management import ManagementUtility

        ManagementUtility(["manage.py", "vtl", "create", "x", "--capacity", "lots"]).execute()
    assert "is not a size" in capsys.readouterr().err


def test_vtl_create_twice_is_refused(vlib):
    with pytest.raises(CommandError, match="already exists"):
        call_command("vtl", "create", "tl")


def test_tape_list_json_is_stable(vlib):
    rows = json.loads(run("tape", "list", "--json", "--library", "tl"))
    assert [r["barcode"] for r in rows] == ["TL0001L8", "TL0002L8", "TL0003L8", "TL0004L8"]
    assert set(rows[0]) >= {"barcode", "media_type", "status", "pool", "location", "slot"}
    assert rows[0]["location"] == "in tl slot 1"


def test_load_status_unload_move_the_tape_and_record_history(vlib):
    assert "Loaded TL0002L8 into tl drive 0" in run("tape", "load", "TL0002L8", "--drive", "tl:0")
    status = json.loads(run("tape", "status", "--drive", "tl:0", "--json"))
    assert status["loaded"] and status["barcode"] == "TL0002L8" and status["bot"]
    out = run("tape", "unload", "--drive", "tl:0")
    assert "it is in tl slot 2" in out
    reasons = list(Tape.objects.get(barcode="TL0002L8").moves.order_by("id")
                   .values_list("reason", flat=True))
    assert reasons[-2:] == ["loaded by operator", "unloaded by operator"]


def test_bootstrap_twice_creates_nothing_twice(vtl_root, db):
    first = run("bootstrap")
    assert "Created the demo library 'demo'" in first and "with password:" in first
    second = run("bootstrap")
    assert "password" not in second.split("exists")[0]
    assert Library.objects.count() == 1 and Tape.objects.count() == 20
    from django.contrib.auth.models import User

    assert User.objects.filter(username="admin").count() == 1
