"""docs/disaster-recovery.md's virtual-tape procedure, run with GNU tar exactly as written
(the block between the dr-test markers), gives back the source tree of a set spanning two
cartridges."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.trees import snapshot
from tests.restore.conftest import CAPACITY

DOC = Path(__file__).resolve().parents[2] / "docs" / "disaster-recovery.md"


def procedure() -> str:
    text = DOC.read_text()
    block = re.search(r"<!-- dr-test:begin -->\s*```sh\n(.*?)```\s*<!-- dr-test:end -->", text, re.S)
    assert block, "the marked procedure is missing from the doc"
    return block.group(1)


def test_the_documented_procedure_restores_the_tree(make_job, backup, vtl_root, tmp_path):
    source = tmp_path / "src"
    (source / "docs").mkdir(parents=True)
    for n in range(3):
        (source / f"part{n}.bin").write_bytes(os.urandom(int(CAPACITY * 0.45)))
    (source / "docs" / "readme.txt").write_text("read me\n")
    os.symlink("readme.txt", source / "docs" / "link")
    backup_set = backup(make_job(str(source)))
    first, second = [s.tape.barcode for s in backup_set.segments.order_by("sequence")]
    out = tmp_path / "out"

    result = subprocess.run(["bash", "-e", "-c", procedure()], capture_output=True, text=True,
                            env={**os.environ, "VTL": str(vtl_root), "FIRST": first,
                                 "SECOND": second, "OUT": str(out)})

    assert result.returncode == 0, result.stderr
    assert f'"barcode": "{first}"' in result.stdout and '"continued": true' in result.stdout
    restored = os.fsencode(out / str(source).lstrip("/"))
    assert snapshot(restored) == snapshot(os.fsencode(source))
