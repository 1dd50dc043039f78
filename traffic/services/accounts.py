"""Traffic accounts: created ahead of their traffic (the mapping to a team), quota periods."""

from datetime import datetime

from django.utils import timezone

from core.attribution import normalize_attribution_id
from core.services_tx import service
from traffic import config, hooks
from traffic.models import TrafficAccount, TrafficQuotaState
from usage.services import cost_centers_create_missing


@service
def traffic_account_create(
    *,
    account_uuid: str,
    attribution_id: str,
    email: str = "",
    now: datetime | None = None,
    **profile,
) -> TrafficAccount:
    """Create an account ahead of its traffic (the mapping to a team), with its quota state and
    the attribution's cost center if it has none; `traffic.hooks.traffic_account_created` runs
    inside this transaction."""
    attribution_id = normalize_attribution_id(attribution_id)
    now = now or timezone.now()
    account = TrafficAccount(account_uuid=account_uuid, email=email, attribution_id=attribution_id, **profile)
    account.full_clean()
    account.save()
    included = account.included_quota_bytes
    TrafficQuotaState.objects.create(
        account=account,
        remaining_included_bytes=config.initial_included_quota_bytes() if included is None else included,
        period_started_at=now,
    )
    cost_centers_create_missing(attribution_ids=[attribution_id], now=now)
    hooks.traffic_account_created(
        attribution_id=attribution_id,
        account_uuid=str(account.account_uuid),
        initial_balance=config.initial_balance(),
    )
    return account


@service
def traffic_quota_reset(*, account: TrafficAccount, now: datetime | None = None) -> TrafficQuotaState:
    """Start a new quota period: the remaining included bytes go back to the profile's quota.

    Takes the quota state's row lock (the rating holds it while it consumes quota).
    """
    quota = TrafficQuotaState.objects.select_for_update().get(account=account)
    included = account.included_quota_bytes
    quota.remaining_included_bytes = config.initial_included_quota_bytes() if included is None else included
    quota.period_started_at = now or timezone.now()
    quota.save(update_fields=["remaining_included_bytes", "period_started_at", "updated_at"])
    return quota
