"""The scheduling cast: the test-only ``sleep`` kind on, short intervals, mail in memory."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def scheduling_settings(settings, tmp_path):
    settings.TAPEBACKUP_TEST_JOB_KINDS = True
    settings.TAPEBACKUP_HEARTBEAT_SECONDS = 0.2
    # In-process runs share the test's transaction: heartbeats go with progress calls.
    # Tests that run a job in another thread (and the clusters) turn the thread on.
    settings.TAPEBACKUP_HEARTBEAT_THREAD = False
    settings.TAPEBACKUP_PROGRESS_SECONDS = 0
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TAPEBACKUP_NOTIFY_EMAILS = ["ops@example.com"]
    return settings


@pytest.fixture
def counter(tmp_path):
    """A file the ``sleep`` kind appends START/END lines to; ``counter.starts()`` counts."""

    class Counter:
        path = tmp_path / "executions.log"

        def lines(self, word: str) -> list[str]:
            if not self.path.exists():
                return []
            return [line for line in self.path.read_text().splitlines()
                    if line.startswith(word + " ")]

        def starts(self, run_id=None) -> int:
            return len([line for line in self.lines("START")
                        if run_id is None or line.split()[1] == str(run_id)])

        def ends(self, run_id=None) -> int:
            return len([line for line in self.lines("END")
                        if run_id is None or line.split()[1] == str(run_id)])

    return Counter()


@pytest.fixture
def sleep_params(counter):
    def make(seconds: float = 0, **extra) -> dict:
        return {"seconds": seconds, "path": str(counter.path), **extra}

    return make
