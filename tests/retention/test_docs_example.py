"""The GFS worked example in docs/retention.md is what the evaluation does."""

from __future__ import annotations

import re
from pathlib import Path

from tapes.retention_policy import GFS, Policy, SetInfo, evaluate
from tests.retention.helpers import at, kept

DOC = Path(__file__).resolve().parents[2] / "docs" / "retention.md"


def _example() -> str:
    match = re.search(r"```gfs-example\n(.*?)```", DOC.read_text(), re.S)
    assert match, "docs/retention.md lost its gfs-example block"
    return match.group(1)


def test_the_documented_gfs_example_holds_in_both_time_zones():
    lines = _example().strip().splitlines()
    counts = dict(part.split("=") for part in lines[0].removeprefix("policy:").split())
    now = at(lines[1].removeprefix("now:").strip())
    history, expected = [], {}
    for line in lines[2:]:
        if line.startswith("kept in "):
            zone, _, ids = line.removeprefix("kept in ").partition(":")
            expected[zone] = sorted(int(i) for i in ids.split())
        else:
            set_id, start, status = line.split()
            history.append(SetInfo(id=int(set_id), started_at=at(start), status=status))
    assert set(expected) == {"Europe/Berlin", "UTC"}
    for zone, ids in expected.items():
        policy = Policy(kind=GFS, time_zone=zone, **{k: int(v) for k, v in counts.items()})
        assert kept(evaluate(policy, history, now)) == ids, zone
