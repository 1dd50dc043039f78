"""Admin helpers shared by every app: CSV export that streams, read-only ledgers, money columns."""

import csv
from collections.abc import Iterable, Sequence

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.utils.html import format_html

from core.money import format_credits


class _Echo:
    def write(self, value):
        return value


def stream_csv(filename: str, header: Sequence[str], rows: Iterable[Sequence]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow(row)

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def money(value) -> str:
    """A right-aligned, fixed-decimal credits cell."""
    if value is None:
        return "-"
    return format_html(
        '<span style="display:block;text-align:right;font-variant-numeric:tabular-nums">{}</span>',
        format_credits(value),
    )


class ServiceAdminMixin:
    """For a ModelAdmin whose save_model / delete_model call a service: the service owns its
    (durable) transaction, so the admin's add, change and delete views do not open one around it."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        return self._delete_view(request, object_id, extra_context)


class ReadOnlyAdminMixin:
    """Ledger rows are facts: staff read them, never add, change or delete them here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False
