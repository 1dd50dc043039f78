"""The one pagination of every list: `?page=&per_page=` in, `{<results>: [...], ..., "pagination":
{page, per_page, total, total_pages}}` out.

Pages are cut in the database: a queryset is counted with COUNT and sliced with LIMIT/OFFSET. A
selector whose list is partly computed hands over an object with `page(offset=, limit=)` that
returns `(rows, total)` and does the same (e.g. `credits.selectors.history.LedgerHistory`).
"""

import math
from typing import Protocol

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 1000
MAX_PAGE = 1_000_000  # keeps OFFSET (page - 1) * per_page inside PostgreSQL's bigint


class Pageable(Protocol):
    def page(self, *, offset: int, limit: int) -> tuple[list, int]: ...


def parse_page_params(query_params, *, default_per_page: int = DEFAULT_PER_PAGE) -> tuple[int, int]:
    """page (1-based) and per_page (1..1000) from a query string; bad values are a 400."""
    try:
        page = int(query_params.get("page", 1))
        per_page = int(query_params.get("per_page", default_per_page))
    except (TypeError, ValueError):
        raise ValidationError({"page": ["page and per_page must be whole numbers."]}) from None
    if not 1 <= page <= MAX_PAGE:
        raise ValidationError({"page": [f"page must be between 1 and {MAX_PAGE:,}."]})
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationError({"per_page": [f"per_page must be between 1 and {MAX_PER_PAGE}."]})
    return page, per_page


def pagination_block(*, page: int, per_page: int, total: int) -> dict:
    return {
        "page": page,
        "per_page": per_page,
        "total": total,
        "total_pages": math.ceil(total / per_page) if total else 0,
    }


def page_of(rows: QuerySet | Pageable, *, offset: int, limit: int) -> tuple[list, int]:
    """One page of `rows` and the total: COUNT and LIMIT/OFFSET for a queryset."""
    if isinstance(rows, QuerySet):
        return list(rows[offset : offset + limit]), rows.count()
    return rows.page(offset=offset, limit=limit)


class PagePagination(PageNumberPagination):
    """`?page=&per_page=`; body `{"results": [...], "pagination": {...}}` on every list.

    A list under another key, or with figures beside it (ListUsage's `entries` and
    `credits_used`), passes `results_key` and the extra figures to `get_paginated_response`;
    the pagination block always comes last.
    """

    page_query_param = "page"
    page_size_query_param = "per_page"
    page_size = DEFAULT_PER_PAGE
    max_page_size = MAX_PER_PAGE

    def paginate_queryset(self, queryset, request, view=None):
        self._page_number, self._per_page = parse_page_params(request.query_params)
        rows, self._total = page_of(
            queryset, offset=(self._page_number - 1) * self._per_page, limit=self._per_page
        )
        return rows

    def get_paginated_response(self, data, *, results_key: str = "results", **extra):
        return Response(
            {
                results_key: data,
                **extra,
                "pagination": pagination_block(
                    page=self._page_number, per_page=self._per_page, total=self._total
                ),
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results", "pagination"],
            "properties": {
                "results": schema,
                "pagination": {
                    "type": "object",
                    "properties": {
                        "page": {"type": "integer"},
                        "per_page": {"type": "integer"},
                        "total": {"type": "integer"},
                        "total_pages": {"type": "integer"},
                    },
                },
            },
        }


def paginated_response(
    *, request, rows: QuerySet | Pageable, serializer_class, view=None, **options
) -> Response:
    """The list views' one way to answer a page: paginate `rows`, serialize the page, render.
    `options` are `get_paginated_response`'s (results_key, extra figures)."""
    paginator = PagePagination()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True).data, **options)
