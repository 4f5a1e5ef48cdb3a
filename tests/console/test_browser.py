"""The console in a real browser: Debian's headless Chromium driven by Playwright, against
a live server. A real backup (the engine on a slowed virtual drive) moves its progress bar
on the dashboard; a file is restored through the wizard and found on disk; a viewer finds
nothing that changes anything. The dashboard and wizard screenshots in docs/ come from here:
``TAPEBACKUP_SCREENSHOTS=1 bin/test tests/console/test_browser.py``.

CI installs Chromium and Playwright (.ci/run); elsewhere these tests skip when either is
missing, and under CI=true they fail instead, so a broken install cannot pass unseen.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from django.db import connection, connections

from scheduling.models import JobRun

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
DOCS = Path(__file__).resolve().parents[2] / "docs"
# Screenshots go to docs/ (committed) with TAPEBACKUP_SCREENSHOTS=1, else to the test's
# temporary directory, so an ordinary test run leaves the work tree as it was.
SCREENSHOTS = os.environ.get("TAPEBACKUP_SCREENSHOTS") == "1"
KiB = 1024

pytestmark = [pytest.mark.slow,
              pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _missing() -> str:
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is missing (pip install -r requirements.txt)"
    return ""


@pytest.fixture
def browser(live_server):
    """Chromium for one test. Started after the test database is set up, because
    Playwright's sync API runs the test in another context, where Django's connection
    object no longer carries the serialized rows ``serialized_rollback`` restores."""
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(missing)
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, so Django takes every ORM
    # call the test makes between browser steps for one from async code; they are plain
    # synchronous calls.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
            yield chromium
            chromium.close()
            # The connection the test opened in Playwright's context is not the one Django
            # closes at teardown; left open, PostgreSQL cannot drop the test database.
            connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def console(browser, live_server, monkeypatch, settings):
    """A fresh browser page on the live server; the pages poll every 400 ms here."""
    monkeypatch.setattr("console.views.REFRESH_MS", 400)
    settings.TAPEBACKUP_PROGRESS_SECONDS = 0
    settings.TAPEBACKUP_HEARTBEAT_SECONDS = 0.5
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.base = live_server.url
    yield page
    context.close()


def login(page, username: str) -> None:
    page.goto(page.base + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_selector("#live, h1")


@pytest.fixture
def library(db, vtl_root):
    from tapes.vtl import vtl_create

    return vtl_create(name="lab", drives=2, slots=8, mailslots=2, tapes=4, capacity=64 << 20)


@pytest.fixture
def job(library, tmp_path):
    from backups.models import BackupJob
    from tapes.models import MediaPool, MediaType

    source = tmp_path / "src"
    (source / "docs").mkdir(parents=True)
    (source / "docs" / "report.txt").write_text("the quarterly report\n")
    for n in range(24):
        (source / f"blob{n:02d}.bin").write_bytes(os.urandom(64 * KiB))
    pool = MediaPool.objects.create(name="daily", record_size=64 * KiB,
                                    media_type=MediaType.objects.get(name="LTO-8"))
    return BackupJob.objects.create(name="files", sources=[str(source)], pool=pool)


@pytest.fixture
def shots(tmp_path) -> Path:
    where = DOCS if SCREENSHOTS else tmp_path
    where.mkdir(exist_ok=True)
    return where


def _execute_in_thread(run_id: int) -> threading.Thread:
    from scheduling.runner import execute_run

    def work():
        try:
            execute_run(run_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work, name=f"run-{run_id}")
    thread.start()
    return thread


def _history(job, days: int = 10) -> None:
    """Earlier nights' sets, so the bytes-per-day chart in the screenshot has bars (sizes
    like this job's tree: the engine takes the last set's totals for the run's ETA)."""
    import datetime as dt

    from django.utils import timezone

    from backups.models import BackupSet

    now = timezone.now()
    BackupSet.objects.bulk_create([
        BackupSet(job=job, status=BackupSet.Status.COMPLETE, files=26,
                  bytes=(1_200_000 + (n % 4) * 150_000) if n > 1 else 1_573_000,
                  started_at=now - dt.timedelta(days=n, hours=2),
                  finished_at=now - dt.timedelta(days=n, hours=1)) for n in range(1, days)])


def test_a_running_backup_moves_on_the_dashboard(console, olga, library, job, vlib_slow,
                                                 shots):
    from scheduling.services import run_enqueue

    _history(job)
    run = run_enqueue(kind="backup", params={"job_id": job.pk}, requested_by=olga)
    assert run.drive_id is not None
    login(console, "olga")
    worker = _execute_in_thread(run.pk)
    try:
        bar = f'.bar[data-run="{run.pk}"]'
        console.wait_for_function(
            f"() => {{ const b = document.querySelector('{bar}'); "
            "return b && Number(b.dataset.bytes) > 0; }")
        first = int(console.get_attribute(bar, "data-bytes"))
        console.wait_for_function(
            f"() => Number(document.querySelector('{bar}').dataset.bytes) > {first}")
        second = int(console.get_attribute(bar, "data-bytes"))
        assert second > first  # the page refreshed itself: same document, newer figures
        assert console.evaluate("() => performance.getEntriesByType('navigation').length") == 1
        console.screenshot(path=str(shots / "dashboard.png"), full_page=True)
    finally:
        worker.join(timeout=120)
    assert JobRun.objects.get(pk=run.pk).state == JobRun.State.SUCCEEDED


@pytest.fixture
def vlib_slow(library, vtl_root):
    """Drive 0 writes at 384 KiB/s: the 1.5 MiB backup takes a few seconds."""
    from tapes.drivers.virtual import VirtualLibrary

    vlib = VirtualLibrary.open(vtl_root, library.name)
    vlib.inject_fault(drive=0, bytes_per_second=384 * KiB)
    vlib.inject_fault(drive=1, bytes_per_second=384 * KiB)
    return vlib


@pytest.fixture
def backed_up(job, library):
    from backups.context import JobContext
    from backups.engine import backup_run
    from tapes.models import Drive

    drive = Drive.objects.get(library=library, index=0)
    backup_set = backup_run(job_id=job.pk, drive_id=drive.pk, context=JobContext())
    assert backup_set.restorable, backup_set.error
    return backup_set


def test_restore_one_file_through_the_wizard(console, olga, job, backed_up, tmp_path, shots):
    from scheduling.runner import execute_run

    source = job.sources[0]
    target = tmp_path / "restored"
    login(console, "olga")
    console.click("nav >> text=Restore")
    console.click(f"text={job.name}")
    console.click(f"a.set >> text=#{backed_up.pk}")  # the set on the calendar
    console.click(f"a.dir >> text={source}/")
    console.click("a.dir >> text=docs/")
    console.check('input[value$="/docs/report.txt"]')
    console.screenshot(path=str(shots / "restore-wizard.png"), full_page=True)
    console.click("#restore-selected")
    console.fill("input[name=target]", str(target))
    console.check("input[name=mode][value=safe]")
    console.click("text=Next: check the tapes")
    tapes = console.inner_text("#tapes-needed")
    first_tape = backed_up.segments.get(sequence=0).tape
    assert first_tape.barcode in tapes and "in lab" in tapes
    console.screenshot(path=str(shots / "restore-confirm.png"), full_page=True)
    console.click("#queue-restore")
    console.wait_for_url(re.compile(r"/runs/\d+/$"))
    run_id = int(console.url.rstrip("/").rsplit("/", 1)[1])
    assert JobRun.objects.get(pk=run_id).params["catalog_paths"] == [f"{source}/docs/report.txt"]
    execute_run(run_id)  # what the node's qcluster would do with the queued task
    console.wait_for_selector('.run-live[data-state="succeeded"]')
    assert "Restored 1 of 1 entries" in console.inner_text("#run-result")
    restored = target / source.lstrip("/") / "docs" / "report.txt"
    assert restored.read_text() == "the quarterly report\n"
    assert not (target / source.lstrip("/") / "blob00.bin").exists()


def test_a_viewer_finds_no_buttons_that_change_anything(console, vic, olga, job, backed_up):
    from scheduling.services import run_enqueue

    run = run_enqueue(kind="verify", params={"set_id": backed_up.pk}, requested_by=olga)
    tape = backed_up.segments.first().tape
    login(console, "vic")
    pages = ["/", f"/runs/{run.pk}/", "/runs/", f"/tapes/{tape.barcode}/", "/tapes/",
             "/libraries/lab/", "/restore/", f"/restore/job/{job.pk}/",
             f"/restore/set/{backed_up.pk}/", f"/restore/set/{backed_up.pk}/?dir={job.sources[0]}"]
    for url in pages:
        console.goto(console.base + url)
        changing = console.locator("form[method=post]:not(.logout)")
        assert changing.count() == 0, url
        assert console.locator("input[type=checkbox]").count() == 0, url
        for word in ("Cancel", "Export", "Verify (", "inventory", "Restore selected"):
            name = re.compile(re.escape(word))
            assert console.get_by_role("button", name=name).count() == 0, (url, word)
            starts = re.compile(f"^{re.escape(word)}")
            assert console.get_by_role("link", name=starts).count() == 0, (url, word)
    assert console.goto(console.base + f"/runs/{run.pk}/cancel/").status == 403
