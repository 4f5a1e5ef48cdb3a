"""The restore wizard: job -> point in time -> browse or search -> select -> target and
mode -> confirm (tapes needed, where they are) -> a queued run, followed on its run page.

Everything up to the confirmation is a GET (the selection travels as ``path`` parameters,
collected across directories by ``console.js``); only queueing is a POST. Viewers may walk
the catalog but see no selection and no restore buttons; the option, confirm and queue
steps need ``backups.restore_files``. The run itself is the restore engineer's
``backups.restore.restore_run``, queued through ``scheduling.services.run_enqueue``.
"""

from __future__ import annotations

import re

from django import forms
from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from backups.extract import MODES, ON_EXISTING, SAFE, SKIP
from backups.models import BackupJob, BackupSet
from console import access, selectors
from scheduling.models import JobKind
from scheduling.services import SchedulingError, run_enqueue

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")

MODE_HELP = {
    "safe": "Safe: no setuid/setgid bits, no device files, owners as the restoring user.",
    "faithful": "Faithful: every property as it was backed up (owners, modes, devices, ACLs).",
}
EXISTING_HELP = {"skip": "keep the existing file", "overwrite": "replace it",
                 "rename": "keep both (the restored one renamed)"}


class RestoreForm(forms.Form):
    target = forms.CharField(max_length=4000, help_text="An absolute directory on the node "
                             "that reads the tape; restored paths go below it.")
    mode = forms.ChoiceField(choices=[(m, MODE_HELP[m]) for m in MODES], initial=SAFE,
                             widget=forms.RadioSelect)
    on_existing = forms.ChoiceField(choices=[(c, EXISTING_HELP[c]) for c in ON_EXISTING],
                                    initial=SKIP, label="When a file exists")

    def clean_target(self) -> str:
        target = self.cleaned_data["target"].strip()
        if not target.startswith("/"):
            raise forms.ValidationError("The target must be an absolute path, e.g. /srv/restore.")
        return target


def _paths(request) -> list[str]:
    """The selected catalog paths (GET or POST), absolute and without duplicates."""
    data = request.POST if request.method == "POST" else request.GET
    return list(dict.fromkeys(p for p in data.getlist("path") if p.startswith("/")))


def _restorable_set(set_id: int) -> BackupSet:
    backup_set = get_object_or_404(BackupSet.objects.select_related("job"), pk=set_id)
    if not backup_set.restorable:
        raise Http404(f"Set {set_id} is {backup_set.get_status_display().lower()}, not "
                      "restorable.")
    return backup_set


@access.page
def jobs(request):
    return render(request, "console/restore/jobs.html", {"jobs": selectors.jobs_with_last_set()})


@access.page
def job_calendar(request, job_id: int):
    job = get_object_or_404(BackupJob, pk=job_id)
    match = _MONTH.match(request.GET.get("month", ""))
    year, month = (int(match[1]), int(match[2])) if match and 1 <= int(match[2]) <= 12 \
        else selectors.latest_month(job)
    return render(request, "console/restore/calendar.html",
                  {"job": job, "cal": selectors.set_calendar(job, year, month)})


@access.page
def browse(request, set_id: int):
    backup_set = _restorable_set(set_id)
    directory, query = request.GET.get("dir", ""), request.GET.get("q", "").strip()
    context = {"set": backup_set, "job": backup_set.job, "query": query,
               "can_restore": request.user.has_perm(access.RESTORE)}
    if query:
        context["results"] = selectors.search(backup_set, query)
    elif directory:
        context["listing"] = selectors.browse(backup_set, directory,
                                              after=request.GET.get("after", ""))
    else:
        context["roots"] = selectors.set_roots(backup_set)
    return render(request, "console/restore/browse.html", context)


@access.page_needing(access.RESTORE)
def options(request, set_id: int):
    backup_set = _restorable_set(set_id)
    bound = request.GET if "target" in request.GET else None
    form = RestoreForm(bound, initial={"target": "/var/tmp/restore"})
    return render(request, "console/restore/options.html",
                  {"set": backup_set, "paths": _paths(request), "form": form})


def _plan(backup_set: BackupSet, paths: list[str]) -> dict:
    """What the confirmation shows: entries, bytes and the tapes to read, in order."""
    from backups.errors import JobError
    from backups.restore import restore_plan, tapes_needed

    if not paths:
        segments = backup_set.segments.select_related("tape__slot__library",
                                                      "tape__drive__library")
        tapes = list(dict.fromkeys(s.tape for s in segments.order_by("sequence")))
        return {"entries": backup_set.files, "bytes": backup_set.bytes, "tapes": tapes}
    rows = restore_plan(backup_set=backup_set, paths=paths)
    try:
        tapes = tapes_needed(backup_set, rows)
    except JobError as exc:
        return {"entries": len(rows), "bytes": 0, "tapes": [], "error": str(exc)}
    return {"entries": len(rows), "bytes": sum(r.size for r in rows if r.type == "0"),
            "tapes": tapes}


@access.page_needing(access.RESTORE)
def confirm(request, set_id: int):
    backup_set = _restorable_set(set_id)
    paths = _paths(request)
    form = RestoreForm(request.GET)
    if not form.is_valid():
        return render(request, "console/restore/options.html",
                      {"set": backup_set, "paths": paths, "form": form})
    plan = _plan(backup_set, paths)
    return render(request, "console/restore/confirm.html", {
        "set": backup_set, "paths": paths, "form": form, "plan": plan,
        "offline": [t for t in plan["tapes"] if t.place != t.Place.LIBRARY],
    })


@access.change(access.RESTORE)
def queue(request, set_id: int):
    backup_set = _restorable_set(set_id)
    paths = _paths(request)
    form = RestoreForm(request.POST)
    if not form.is_valid():
        return render(request, "console/restore/options.html",
                      {"set": backup_set, "paths": paths, "form": form}, status=400)
    params = {"set_id": backup_set.pk, "target": form.cleaned_data["target"],
              "mode": form.cleaned_data["mode"], "on_existing": form.cleaned_data["on_existing"],
              "catalog_paths": paths or None}
    media = _media_type(backup_set)
    if media:
        params["media_type"] = media
    try:
        run = run_enqueue(kind=JobKind.RESTORE, params=params, requested_by=request.user)
    except SchedulingError as exc:
        messages.error(request, str(exc))
        return redirect(reverse("console:restore-browse", args=[backup_set.pk]))
    messages.success(request, f"Restore queued as run #{run.pk}.")
    return redirect("console:run", run_id=run.pk)




def _media_type(backup_set: BackupSet) -> str | None:
    """The set's media type when all its tapes share one, so a drive that reads it is
    reserved."""
    names = set(backup_set.segments.values_list("tape__media_type__name", flat=True))
    return names.pop() if len(names) == 1 else None
