from datetime import datetime

from django.db.models import QuerySet

from audit.models import AuditEvent
from core.errors import ValidationFailed


def audit_events_list(
    *,
    action: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    attribution_id: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Events newest first, filtered; [start, end) on occurred_at."""
    if start is not None and end is not None and start > end:
        raise ValidationFailed("from must not be after to.", code="invalid_range")
    events = AuditEvent.objects.all()
    if action:
        events = events.filter(action=action)
    if object_type:
        events = events.filter(object_type=object_type)
    if object_id:
        events = events.filter(object_id=object_id)
    if attribution_id:
        events = events.filter(attribution_id=attribution_id)
    if start is not None:
        events = events.filter(occurred_at__gte=start)
    if end is not None:
        events = events.filter(occurred_at__lt=end)
    return events.order_by("-occurred_at", "-id")
