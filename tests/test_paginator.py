"""History lists count at most a capped number of rows, whatever the table's size."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tapes import paginators
from tapes.models import TapeLocation


def test_the_count_stops_at_the_cap(inventory_library, monkeypatch):
    monkeypatch.setattr(paginators, "CAP", 2)
    rows = TapeLocation.objects.order_by("-at")
    assert rows.count() == 4
    paginator = paginators.CappedPaginator(rows, 1)
    with CaptureQueriesContext(connection) as queries:
        assert paginator.count == 3
    assert "LIMIT 3" in queries[0]["sql"]
    assert paginators.CappedPaginator(rows[:1], 1).count == 1


def test_history_admin_pages_use_it(client, ada, inventory_library):
    from django.urls import reverse

    client.force_login(ada)
    for name in ("admin:tapes_tapelocation_changelist", "admin:scheduling_jobrun_changelist",
                 "admin:tapes_auditrecord_changelist", "admin:backups_catalogentry_changelist",
                 "admin:backups_verifyresult_changelist"):
        response = client.get(reverse(name))
        assert response.status_code == 200
        assert isinstance(response.context["cl"].paginator, paginators.CappedPaginator), name
