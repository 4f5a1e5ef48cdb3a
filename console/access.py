"""Who may see and do what on the console's pages.

Every page needs a login (the console's own login page, so users need not be staff);
every change is a POST that needs the role's permission (``tapes.roles``) and is refused
with 403 otherwise. Templates hide the buttons with the same permissions (``perms``).
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.views.decorators.http import require_POST

LOGIN_URL = "console:login"

CANCEL = "scheduling.cancel_jobrun"
RESTORE = "backups.restore_files"
VERIFY = "backups.verify_media"
OPERATE_TAPE = "tapes.operate_tape"
OPERATE_LIBRARY = "tapes.operate_library"


def page(view):
    """A page anyone logged in may read."""
    return login_required(view, login_url=LOGIN_URL)


def page_needing(perm: str):
    """A page (e.g. a confirmation step) only a user with ``perm`` may see."""
    def wrap(view):
        @wraps(view)
        def checked(request, *args, **kwargs):
            if not request.user.has_perm(perm):
                raise PermissionDenied(f"You need the permission {perm} for this page.")
            return view(request, *args, **kwargs)

        return login_required(checked, login_url=LOGIN_URL)

    return wrap


def change(perm: str):
    """A state change: POST only (CSRF-checked by the middleware), login and ``perm``."""
    def wrap(view):
        return require_POST(page_needing(perm)(view))

    return wrap
