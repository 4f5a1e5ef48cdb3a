"""``manage.py`` in a pipeline whose reader goes away (``… | head``) exits quietly with
141, as a program killed by SIGPIPE would, instead of printing a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_closed_pipe_is_a_quiet_exit():
    child = subprocess.Popen([sys.executable, "manage.py", "help", "--commands"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # the reader is gone before the command writes a line
    _, err = child.communicate(timeout=60)
    assert child.returncode == 141 and b"Traceback" not in err, err.decode()
