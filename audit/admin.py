"""The audit trail in the admin: read-only, filterable, exportable as CSV (streamed)."""

import json

from django.contrib import admin

from audit.models import AuditEvent
from core.admin_tools import ReadOnlyAdminMixin, TallyModelAdmin, stream_csv
from core.timeutils import format_rfc3339

CSV_HEADER = [
    "id",
    "occurred_at",
    "action",
    "object_type",
    "object_id",
    "attribution_id",
    "actor_kind",
    "actor_id",
    "actor_label",
    "source",
    "request_id",
    "before",
    "after",
]


def _json(value) -> str:
    return "" if value is None else json.dumps(value, sort_keys=True)


def audit_csv_rows(queryset):
    for e in queryset.order_by("occurred_at", "id").iterator(chunk_size=2000):
        yield [
            e.id,
            format_rfc3339(e.occurred_at),
            e.action,
            e.object_type,
            e.object_id,
            e.attribution_id,
            e.actor_kind,
            e.actor_id,
            e.actor_label,
            e.source,
            e.request_id,
            _json(e.before),
            _json(e.after),
        ]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, TallyModelAdmin):
    attribution_field = "attribution_id"
    list_display = [
        "occurred_at",
        "action",
        "object_type",
        "object_id",
        "payer",
        "actor_kind",
        "actor_label",
        "source",
    ]
    list_filter = ["action", "actor_kind", "source", "occurred_at"]
    search_fields = ["=object_id", "=attribution_id", "=actor_label", "=actor_id"]
    search_help_text = (
        "A team's name or slug, or an exact object id, attribution id (team:<uuid>), actor label or actor id."
    )
    date_hierarchy = "occurred_at"
    ordering = ["-occurred_at", "-id"]
    readonly_fields = ["payer", *(f.name for f in AuditEvent._meta.fields)]
    actions = ["export_csv"]
    show_full_result_count = False

    def has_view_permission(self, request, obj=None):
        return request.user.is_staff

    def get_search_results(self, request, queryset, search_term):
        # Attribution ids are stored lowercase; staff paste them as they find them.
        term = search_term.strip()
        if term.lower().startswith(("team:", "user:")):
            return queryset.filter(attribution_id=term.lower()), False
        return super().get_search_results(request, queryset, term)

    @admin.action(description="Export selected audit events as CSV")
    def export_csv(self, request, queryset):
        return stream_csv("audit-events.csv", CSV_HEADER, audit_csv_rows(queryset))
