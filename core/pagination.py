import math

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 1000
MAX_PAGE = 1_000_000  # keeps OFFSET (page - 1) * per_page inside PostgreSQL's bigint


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


class PagePagination(PageNumberPagination):
    """`?page=&per_page=`; body `{"results": [...], "pagination": {...}}` on every list."""

    page_query_param = "page"
    page_size_query_param = "per_page"
    page_size = DEFAULT_PER_PAGE
    max_page_size = MAX_PER_PAGE

    def paginate_queryset(self, queryset, request, view=None):
        self._page_number, self._per_page = parse_page_params(request.query_params)
        self._total = queryset.count()
        start = (self._page_number - 1) * self._per_page
        return list(queryset[start : start + self._per_page])

    def get_paginated_response(self, data):
        return Response(
            {
                "results": data,
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
