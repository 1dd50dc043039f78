"""Workspace lifecycle reports and the ledger job that prices them (Gitpod's ledger trigger)."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from core.attribution import normalize_attribution_id
from core.errors import Conflict, ValidationFailed
from core.services_tx import durable_transaction, job, service
from core.timeutils import format_rfc3339
from usage import hooks
from usage.models import UsageEntry, WorkspaceClass, WorkspaceInstance
from usage.services.cost_centers import cost_centers_create_missing
from usage.workspace_pricing import Pricer

logger = logging.getLogger(__name__)

RUNNING_LOOKBACK = timedelta(days=10)


@service
def workspace_instance_report(
    *,
    instance_id: str,
    attribution_id: str,
    workspace_class: str,
    started_at: datetime,
    stopping_time: datetime | None = None,
    stopped_time: datetime | None = None,
    metadata: dict | None = None,
) -> tuple[WorkspaceInstance, bool]:
    """Record started / stopping / stopped. Reports repeat safely; a report that contradicts
    an earlier one (other attribution, other start, a different stop once set) is a 409.
    The first report of an attribution creates its cost center."""
    if not instance_id or not instance_id.strip() or len(instance_id) > 255:
        raise ValidationFailed("instance_id must be 1 to 255 characters.", code="invalid_instance_id")
    if not workspace_class or not workspace_class.strip():
        raise ValidationFailed("workspace_class is required.", code="invalid_workspace_class")
    attribution_id = normalize_attribution_id(attribution_id)
    if stopped_time is not None and stopped_time < started_at:
        raise ValidationFailed("stopped_time is before started_at.", code="stopped_before_started")

    instance = WorkspaceInstance.objects.select_for_update().filter(instance_id=instance_id).first()
    if instance is None:
        instance = WorkspaceInstance(
            instance_id=instance_id,
            attribution_id=attribution_id,
            workspace_class=workspace_class,
            started_at=started_at,
            stopping_time=stopping_time,
            stopped_time=stopped_time,
            metadata=metadata or {},
        )
        instance.full_clean()
        instance.save()
        cost_centers_create_missing(attribution_ids=[attribution_id], now=timezone.now())
        return instance, True

    for field, new, old in (
        ("attribution_id", attribution_id, instance.attribution_id),
        ("started_at", started_at, instance.started_at),
        ("workspace_class", workspace_class, instance.workspace_class),
    ):
        if new != old:
            raise Conflict(
                f"Instance {instance_id} was reported with another {field}.", code="instance_conflict"
            )
    for field, new in (("stopping_time", stopping_time), ("stopped_time", stopped_time)):
        old = getattr(instance, field)
        if new is None:
            continue
        if old is not None and old != new:
            raise Conflict(f"Instance {instance_id} already has a {field}.", code="instance_conflict")
        setattr(instance, field, new)
    if metadata:
        instance.metadata = {**instance.metadata, **metadata}
    instance.full_clean()
    instance.save()
    return instance, False


def _pricer() -> Pricer:
    return Pricer(dict(WorkspaceClass.objects.values_list("slug", "credits_per_minute")))


def _entry_values(instance: WorkspaceInstance, pricer: Pricer, now: datetime) -> dict:
    effective = instance.stopping_time or instance.stopped_time or now
    return {
        "attribution_id": instance.attribution_id,
        "description": f"Workspace {instance.instance_id} ({instance.workspace_class})",
        "credits": pricer.credits(
            workspace_class=instance.workspace_class,
            started_at=instance.started_at,
            stopping_time=instance.stopping_time,
            stopped_time=instance.stopped_time,
            now=now,
        ),
        "effective_time": effective,
        "kind": UsageEntry.Kind.WORKSPACE,
        "draft": instance.stopped_time is None,
        "metadata": {
            "workspace_class": instance.workspace_class,
            "started_at": format_rfc3339(instance.started_at),
            "stopping_time": format_rfc3339(instance.stopping_time),
            "stopped_time": format_rfc3339(instance.stopped_time),
        },
    }


@job
def workspace_instances_rate(*, now: datetime | None = None, batch_size: int = 1000) -> dict:
    """The ledger job: one `workspace` UsageEntry per instance, keyed by instance id.

    Looks at instances stopped within the lookback window without a final entry, instances
    running (started within 10 days, no stopping time) and every instance with a draft. A
    draft is rewritten in place (same id) until the instance is stopped; then it is final and
    never touched again. Running it twice with the same `now` writes the same entries; two runs
    at once cannot duplicate an entry (the object id is unique) or change a final one (updates
    only match drafts).
    """
    now = now or timezone.now()
    pricer = _pricer()
    stopped_cutoff = now - timedelta(days=settings.TALLY_RECONCILE_STOPPED_LOOKBACK_DAYS)
    final_exists = UsageEntry.objects.filter(object_id=OuterRef("instance_id"), draft=False)
    draft_ids = UsageEntry.objects.filter(kind=UsageEntry.Kind.WORKSPACE, draft=True).values("object_id")
    candidates = (
        WorkspaceInstance.objects.filter(
            Q(stopped_time__gte=stopped_cutoff)
            | Q(stopped_time__isnull=True, started_at__gte=now - RUNNING_LOOKBACK)
            | Q(instance_id__in=draft_ids)
        )
        .filter(started_at__lte=now)
        .exclude(Exists(final_exists))
        .order_by("instance_id")
    )
    counts = {"created": 0, "updated": 0, "finalized": 0, "unchanged": 0}
    batch: list[WorkspaceInstance] = []
    rated: set[str] = set()
    for instance in candidates.iterator(chunk_size=batch_size):
        batch.append(instance)
        rated.add(instance.attribution_id)
        if len(batch) >= batch_size:
            _reconcile_batch(batch, pricer, now, counts)
            batch = []
    if batch:
        _reconcile_batch(batch, pricer, now, counts)
    hooks.usage_rated(attribution_ids=rated)  # committed: auto-recharge may look at them now
    return {"status": "ok", **counts}


@durable_transaction()
def _reconcile_batch(instances: list[WorkspaceInstance], pricer: Pricer, now: datetime, counts: dict) -> None:
    existing = {
        e.object_id: e
        for e in UsageEntry.objects.filter(object_id__in=[i.instance_id for i in instances]).only(
            "id", "object_id", "credits", "effective_time", "draft", "description", "metadata"
        )
    }
    to_create = []
    for instance in instances:
        values = _entry_values(instance, pricer, now)
        entry = existing.get(instance.instance_id)
        if entry is None:
            to_create.append(UsageEntry(object_id=instance.instance_id, **values))
            continue
        if not entry.draft:
            continue
        if all(
            getattr(entry, f) == values[f]
            for f in ("credits", "effective_time", "draft", "description", "metadata")
        ):
            counts["unchanged"] += 1
            continue
        # Only a draft matches: a concurrent run that already finalized it wins.
        updated = UsageEntry.objects.filter(pk=entry.pk, draft=True).update(updated_at=now, **values)
        if updated and values["effective_time"] < now - timedelta(minutes=hooks.BACKDATED_AFTER_MINUTES):
            hooks.usage_backdated(attribution_id=values["attribution_id"], since=values["effective_time"])
        if updated:
            counts["finalized" if not values["draft"] else "updated"] += 1
    cutoff = now - timedelta(minutes=hooks.BACKDATED_AFTER_MINUTES)
    for entry in to_create:
        if entry.effective_time < cutoff:
            hooks.usage_backdated(attribution_id=entry.attribution_id, since=entry.effective_time)
    if to_create:
        cost_centers_create_missing(attribution_ids={e.attribution_id for e in to_create}, now=now)
        UsageEntry.objects.bulk_create(to_create, ignore_conflicts=True)
        # Ids are made here, so the rows carrying ours are the ones this run inserted.
        counts["created"] += UsageEntry.objects.filter(pk__in=[e.pk for e in to_create]).count()
