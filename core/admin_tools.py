"""Admin helpers shared by every app: the unfold base classes, payers by name, money and rate
cells, CSV export that streams, read-only ledgers.

core knows attribution ids, not teams or accounts: the apps that own them register an
`AttributionDirectory` here (billing for `team:` ids, traffic for `user:` ids), from their admin
modules. Every admin of ours with an attribution id then shows the payer's name, linked, and
finds rows by that name.
"""

import csv
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.utils.html import format_html
from unfold.admin import ModelAdmin as UnfoldModelAdmin
from unfold.admin import StackedInline as UnfoldStackedInline
from unfold.admin import TabularInline as UnfoldTabularInline

from core.fields import RateField
from core.money import format_credits, format_credits_for_people


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


# --- Figures ---------------------------------------------------------------------------------


def credits_short(value) -> str:
    """Credits as people read them: 2 places with thousands separators ("12,345.68")."""
    return format_credits_for_people(value)


def money(value) -> str:
    """A right-aligned credits cell: 2 places with separators, the exact 6 places on hover."""
    if value is None:
        return "-"
    return format_html(
        '<span class="tabular-nums" style="display:block;text-align:right;'
        'font-variant-numeric:tabular-nums" title="{}">{}</span>',
        format_credits(value),
        credits_short(value),
    )


class ServiceAdminMixin(admin.ModelAdmin):
    """For a ModelAdmin whose save_model / delete_model call a service: the service owns its
    (durable) transaction, so the admin's add, change and delete views do not open one around it.

    List it after the theme's base (`class CostCenterAdmin(TallyModelAdmin, ServiceAdminMixin)`):
    it then sits just above Django's ModelAdmin, so unfold's changeform_view still runs and only
    Django's `transaction.atomic` around `_changeform_view` / `_delete_view` is left out."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._changeform_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        return self._delete_view(request, object_id, extra_context)


def rate_text(value) -> str:
    """A rate without trailing zeros and never in exponent form: 0.000200000000000 -> "0.0002"."""
    if value is None:
        return "-"
    text = f"{Decimal(value).normalize():f}"
    return "0" if text in ("-0", "") else text


def rate(value) -> str:
    """A rate cell: normalized, the exact stored value on hover."""
    if value is None:
        return "-"
    return format_html(
        '<span style="font-variant-numeric:tabular-nums" title="{}">{}</span>', str(value), rate_text(value)
    )


class RateFormField(forms.DecimalField):
    """A rate input showing what was typed, "0.0002", never the stored 0.000200000000000."""

    def prepare_value(self, value):
        if isinstance(value, Decimal):
            return rate_text(value)
        return value


class _RateFields:
    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, RateField):
            kwargs.setdefault("form_class", RateFormField)
        return super().formfield_for_dbfield(db_field, request, **kwargs)


# --- Payers by name ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Payer:
    label: str
    url: str | None = None


@dataclass(frozen=True)
class AttributionDirectory:
    """What an app knows of one kind of payer.

    `resolve` names many ids at once (one query for a whole changelist page); `search` answers
    the ids whose name, slug or id contains a search term.
    """

    kind: str  # "team" or "user"
    resolve: Callable[[set[str]], dict[str, Payer]]
    search: Callable[[str], set[str]]


_directories: dict[str, AttributionDirectory] = {}


def register_attribution_directory(directory: AttributionDirectory) -> None:
    _directories[directory.kind] = directory


def resolve_payers(attribution_ids: Iterable[str]) -> dict[str, Payer]:
    by_kind: dict[str, set[str]] = {}
    for attribution_id in attribution_ids:
        if attribution_id:
            by_kind.setdefault(attribution_id.split(":", 1)[0], set()).add(attribution_id)
    payers: dict[str, Payer] = {}
    for kind, ids in by_kind.items():
        directory = _directories.get(kind)
        if directory is not None:
            payers.update(directory.resolve(ids))
    return payers


def search_attribution_ids(term: str) -> set[str]:
    """Attribution ids whose payer's name, slug or id contains `term` (case-insensitive)."""
    term = term.strip()
    if not term:
        return set()
    found: set[str] = set()
    for directory in _directories.values():
        found |= directory.search(term)
    return found


def payer_html(attribution_id: str | None, payers: dict[str, Payer]) -> str:
    """The payer's name, linked to its admin page, the raw id one hover away; the raw id when
    nobody is known by it (flagged, so a ghost never passes for a customer)."""
    if not attribution_id:
        return "-"
    payer = payers.get(attribution_id)
    if payer is None:
        return format_html(
            '<span title="No team or account is known by this id">{} <em>(unknown)</em></span>',
            attribution_id,
        )
    if payer.url:
        return format_html('<a href="{}" title="{}">{}</a>', payer.url, attribution_id, payer.label)
    return format_html('<span title="{}">{}</span>', attribution_id, payer.label)


# --- Base classes ------------------------------------------------------------------------------


class TallyModelAdmin(_RateFields, UnfoldModelAdmin):
    """unfold's ModelAdmin with payers by name.

    `attribution_field` names where the row's attribution id lives ("attribution_id",
    "ledger__attribution_id"); None for models without one. Put "payer" in `list_display` or
    `readonly_fields` to show the name, linked. Searching finds rows by team name, slug or a
    part of the id, besides the admin's own `search_fields`.
    """

    attribution_field: str | None = None
    compressed_fields = True
    warn_unsaved_form = True

    def _attribution_of(self, obj) -> str | None:
        value = obj
        for part in self.attribution_field.split("__"):
            value = getattr(value, part, None)
        return value

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        if self.attribution_field:
            # One lookup per kind for the whole page, never one per row.
            self._payers = resolve_payers(self._attribution_of(obj) for obj in changelist.result_list)
        return changelist

    @admin.display(description="payer")
    def payer(self, obj) -> str:
        attribution_id = self._attribution_of(obj)
        payers = getattr(self, "_payers", {})
        if attribution_id not in payers:
            payers = resolve_payers([attribution_id])
        return payer_html(attribution_id, payers)

    def get_search_results(self, request, queryset, search_term):
        if not self.attribution_field or not search_term.strip():
            return super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        field = self.attribution_field
        by_payer = Q(**{f"{field}__in": search_attribution_ids(term)})
        if term.lower().startswith(("team:", "user:")):
            by_payer |= Q(**{f"{field}__startswith": term.lower()})
        if not self.get_search_fields(request):
            return queryset.filter(by_payer), False
        own, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return queryset.filter(Q(pk__in=own.values("pk")) | by_payer), may_have_duplicates


class ReadOnlyAdminMixin:
    """Ledger rows are facts: staff read them, never add, change or delete them here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class TabularInline(_RateFields, UnfoldTabularInline):
    pass


class StackedInline(_RateFields, UnfoldStackedInline):
    pass


class ReadOnlyInline(ReadOnlyAdminMixin, TabularInline):
    extra = 0
    can_delete = False


def restyle_registered(app_label: str, site=None) -> None:
    """Re-register a third-party app's admins (dj-stripe, celery-beat, auth) on unfold's base, as
    unfold's docs say, so their pages look like ours; their behaviour stays theirs."""
    site = site or admin.site
    for model, model_admin in list(site._registry.items()):
        if model._meta.app_label != app_label or isinstance(model_admin, UnfoldModelAdmin):
            continue
        cls = type(model_admin)
        site.unregister(model)
        site.register(model, type(cls.__name__, (cls, UnfoldModelAdmin), {"__module__": cls.__module__}))
