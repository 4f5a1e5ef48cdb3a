"""A paginator for history tables with millions of rows (catalog, job runs, moves, audit).

Django's admin counts the filtered rows on every list page; on a big table that COUNT(*)
is the slowest query of the page. This one counts at most ``CAP`` + 1 rows (a bounded
``SELECT COUNT(*) FROM (… LIMIT n)``), so a page costs the same however large the table;
past the cap the admin shows "10001" results and the operator narrows the filter.
"""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

CAP = 10_000


class CappedPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        return self.object_list[: CAP + 1].count()
