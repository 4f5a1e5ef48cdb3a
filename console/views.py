"""The console's pages: dashboard, runs, tapes and libraries.

Views read through ``console.selectors`` and change things only by calling other apps'
services (``scheduling.services``, ``tapes.media``); each change is a POST (``access``)
that leaves its trail where the service writes it (a run's ``requested_by`` and
``cancel_requested_by``, a tape's ``TapeLocation`` rows). Live parts of a page are
fragments the page fetches again every few seconds (``static/console/console.js``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.shortcuts import get_object_or_404, redirect, render

from console import access, selectors
from scheduling.models import JobKind, JobRun
from scheduling.services import SchedulingError, run_cancel, run_enqueue
from tapes.models import Library, MediaPool, Tape
from tapes.services import InventoryError

REFRESH_MS = 3000


class LoginView(auth_views.LoginView):
    template_name = "console/login.html"
    redirect_authenticated_user = True
    next_page = "console:dashboard"  # not settings.LOGIN_REDIRECT_URL (/accounts/profile/)


def _page_number(request) -> int:
    try:
        return max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        return 1


# --- dashboard ----------------------------------------------------------------------------


def _dashboard_context() -> dict:
    return {
        "drives": selectors.drive_rows(),
        "waiting": selectors.waiting_runs(),
        "day": selectors.last_day_results(),
        "failures": selectors.failures(),
        "health": selectors.latest_health(),
        "scratch": selectors.scratch_by_pool(),
        "offsite": selectors.offsite(),
        "next_runs": selectors.next_scheduled(),
        "per_day": selectors.bytes_per_day(),
        "capacity": selectors.capacity_by_pool(),
    }


@access.page
def dashboard(request):
    return render(request, "console/dashboard.html",
                  {**_dashboard_context(), "refresh_ms": REFRESH_MS})


@access.page
def dashboard_live(request):
    return render(request, "console/_dashboard_live.html", _dashboard_context())


# --- runs ---------------------------------------------------------------------------------


@access.page
def runs(request):
    state, kind = request.GET.get("state", ""), request.GET.get("kind", "")
    page = _page_number(request)
    found, more = selectors.runs_page(state=state, kind=kind, page=page)
    return render(request, "console/runs.html", {
        "runs": found, "more": more, "page": page, "state": state, "kind": kind,
        "states": JobRun.State.choices, "kinds": JobKind.choices,
    })


def _run_context(run_id: int) -> dict:
    run = get_object_or_404(JobRun.objects.select_related(
        "drive__library", "requested_by", "cancel_requested_by", "schedule"), pk=run_id)
    return {"run": run, "percent": selectors.run_percent(run), "log": selectors.log_tail(run)}


@access.page
def run_detail(request, run_id: int):
    return render(request, "console/run.html", {**_run_context(run_id), "refresh_ms": REFRESH_MS})


@access.page
def run_live(request, run_id: int):
    return render(request, "console/_run_live.html", _run_context(run_id))


@access.page_needing(access.CANCEL)
def run_cancel_confirm(request, run_id: int):
    """Cancelling stops a backup half-way: ask first (STYLE §13)."""
    run = get_object_or_404(JobRun, pk=run_id)
    return render(request, "console/run_cancel.html", {"run": run})


@access.change(access.CANCEL)
def run_cancel_post(request, run_id: int):
    run = get_object_or_404(JobRun, pk=run_id)
    if run_cancel(run=run, user=request.user):
        run.refresh_from_db()
        done = "cancelled" if run.state == JobRun.State.CANCELLED else "asked to stop"
        messages.success(request, f"Run #{run.pk} {done}.")
    else:
        messages.error(request, f"Run #{run.pk} was not cancelled: it is "
                                f"{run.get_state_display().lower()}.")
    return redirect("console:run", run_id=run.pk)


# --- tapes --------------------------------------------------------------------------------


@access.page
def tapes(request):
    pool, status, q = (request.GET.get(k, "") for k in ("pool", "status", "q"))
    page = _page_number(request)
    found, more = selectors.tapes_page(pool=pool, status=status, q=q, page=page)
    return render(request, "console/tapes.html", {
        "tapes": found, "more": more, "page": page, "pool": pool, "status": status, "q": q,
        "pools": MediaPool.objects.order_by("name").values_list("name", flat=True),
        "statuses": Tape.Status.choices,
    })


@access.page
def tape_detail(request, barcode: str):
    from backups.verify import verify_last
    from tapes.lifecycle import tape_wear_reasons

    tape = get_object_or_404(Tape.objects.select_related(
        "media_type", "pool", "media_set", "slot__library", "drive__library"), barcode=barcode)
    return render(request, "console/tape.html", {
        "tape": tape, "life": selectors.tape_life(tape), "wear": tape_wear_reasons(tape),
        "segments": selectors.tape_sets(tape), "moves": selectors.tape_moves(tape),
        "audit": tape.audit.select_related("user").order_by("-at", "-id")[:30],
        "verify_runs": selectors.tape_verify_runs(tape),
        "verify_last": verify_last(f"tape-{tape.barcode}"),
        "pick_lists": tape.pick_lists.select_related("vault").order_by("-created_at")[:5],
    })


@access.change(access.OPERATE_TAPE)
def tape_export(request, barcode: str):
    from tapes.media import tape_export as export

    tape = get_object_or_404(Tape, barcode=barcode)
    try:
        slot = export(tape=tape, user=request.user)
    except InventoryError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Tape {tape.barcode} is in mail slot {slot}; take it out "
                                  "of the library there.")
    return redirect("console:tape", barcode=tape.barcode)


@access.change(access.VERIFY)
def tape_verify(request, barcode: str):
    tape = get_object_or_404(Tape.objects.select_related("media_type"), barcode=barcode)
    level = "data" if request.POST.get("level") == "data" else "quick"
    return _enqueue(request, kind=JobKind.VERIFY, params={
        "tape": tape.barcode, "level": level, "media_type": tape.media_type.name},
        back=("console:tape", {"barcode": tape.barcode}))


def _enqueue(request, *, kind: str, params: dict, back: tuple[str, dict]):
    """Queue a run for the user (who asked is on the run row) and show it."""
    try:
        run = run_enqueue(kind=kind, params=params, requested_by=request.user)
    except SchedulingError as exc:
        messages.error(request, str(exc))
        return redirect(back[0], **back[1])
    messages.success(request, f"{run.kind_label} queued as run #{run.pk}.")
    return redirect("console:run", run_id=run.pk)


# --- libraries ----------------------------------------------------------------------------


@access.page
def libraries(request):
    found = list(Library.objects.order_by("name"))
    if len(found) == 1:
        return redirect("console:library", name=found[0].name)
    return render(request, "console/libraries.html", {"libraries": found})


@access.page
def library_detail(request, name: str):
    library = get_object_or_404(Library, name=name)
    return render(request, "console/library.html", {"grid": selectors.library_grid(library)})


@access.change(access.OPERATE_LIBRARY)
def library_inventory(request, name: str):
    library = get_object_or_404(Library, name=name)
    return _enqueue(request, kind=JobKind.INVENTORY, params={"library": library.name},
                    back=("console:library", {"name": library.name}))
