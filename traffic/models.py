"""Traffic from exporters (svc.plus billing-service): sources, accounts, counter state, minute facts.

The models moved here from usage; their tables keep the names usage created them under
(`db_table`), so the rows, constraints and the append-only triggers on `usage_trafficminute`
(usage 0009) stayed where they were.
"""

from django.db import models

from core.fields import CreditsField, RateField
from core.models import TimeStampedModel

MULTIPLIER_DIGITS = 12
MULTIPLIER_PLACES = 6


class ExporterSource(TimeStampedModel):
    """An xray-exporter to pull `GET /v1/snapshots/window` from.

    Rows declared in EXPORTER_SOURCES_JSON / EXPORTER_BASE_URL are created (and follow the
    environment) while `managed_by_settings` is set; an edit in the admin takes the row over.
    The Bearer token is stored encrypted (core.crypto); empty means INTERNAL_SERVICE_TOKEN.
    """

    source_id = models.CharField(max_length=64, unique=True)
    base_url = models.URLField(max_length=500, help_text="https://… of the exporter; TLS is always verified.")
    token_encrypted = models.TextField(blank=True, editable=False)
    expected_node_id = models.CharField(max_length=200, blank=True, help_text="Empty: any node id.")
    expected_env = models.CharField(max_length=64, blank=True, help_text="Empty: any env.")
    enabled = models.BooleanField(default=True)
    timeout_seconds = models.PositiveIntegerField(default=15)
    region = models.CharField(max_length=32, blank=True, help_text="Empty: DEFAULT_REGION.")
    line = models.CharField(max_length=64, blank=True, help_text="Line code of this source's minutes.")
    managed_by_settings = models.BooleanField(
        default=False, help_text="Follows EXPORTER_SOURCES_JSON / EXPORTER_BASE_URL until edited here."
    )

    class Meta:
        db_table = "usage_exportersource"
        ordering = ["source_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__gt=0),
                name="exportersource_timeout_positive",
                violation_error_message="The timeout must be at least 1 second.",
            )
        ]

    def __str__(self) -> str:
        return self.source_id


class TrafficSourceState(models.Model):
    """Per-source checkpoint: moves only when a whole window was read and applied."""

    source_id = models.CharField(max_length=64, primary_key=True)
    last_completed_until = models.DateTimeField(null=True, blank=True)
    last_attempted_at = models.DateTimeField(null=True, blank=True)
    last_succeeded_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    # A source is one exporter on one node: what it reported first is what it must keep
    # reporting, even when the source pins nothing (a page from another node would otherwise
    # read as a new node, and its totals as first-sight traffic).
    node_id = models.CharField(
        max_length=200,
        blank=True,
        help_text="Learned on the first successful window when the source expects no node id: "
        "later pages must match.",
    )
    env = models.CharField(
        max_length=64, blank=True, help_text="Learned like node_id when the source expects no env."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "usage_trafficsourcestate"
        ordering = ["source_id"]

    def __str__(self) -> str:
        return self.source_id


class TrafficAccount(TimeStampedModel):
    """An account of the proxy network and its billing profile.

    Created on first sight with attribution `user:<account uuid>` unless staff created it
    first (that is the mapping to a team). Empty profile fields take the defaults:
    INITIAL_INCLUDED_QUOTA_BYTES, PRICE_PER_BYTE, SOURCE_REVISION; multipliers ≤ 0 count as 1.
    """

    account_uuid = models.UUIDField(unique=True)
    email = models.CharField(max_length=254, blank=True)
    attribution_id = models.CharField(max_length=64, db_index=True)
    package_name = models.CharField(max_length=100, blank=True)
    included_quota_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Empty: INITIAL_INCLUDED_QUOTA_BYTES."
    )
    price_per_byte = RateField(
        null=True, blank=True, help_text="Credits per chargeable byte. Empty: PRICE_PER_BYTE."
    )
    region_multiplier = models.DecimalField(
        max_digits=MULTIPLIER_DIGITS, decimal_places=MULTIPLIER_PLACES, default=1
    )
    line_multiplier = models.DecimalField(
        max_digits=MULTIPLIER_DIGITS, decimal_places=MULTIPLIER_PLACES, default=1
    )
    pricing_rule_version = models.CharField(max_length=100, blank=True, help_text="Empty: SOURCE_REVISION.")

    class Meta:
        db_table = "usage_trafficaccount"
        ordering = ["account_uuid"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(included_quota_bytes__isnull=True) | models.Q(included_quota_bytes__gte=0),
                name="trafficaccount_quota_not_negative",
                violation_error_message=(
                    "The included quota cannot be negative; leave it empty for the default."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(price_per_byte__isnull=True) | models.Q(price_per_byte__gte=0),
                name="trafficaccount_price_not_negative",
                violation_error_message=(
                    "The price per byte cannot be negative; leave it empty for the default."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.email or str(self.account_uuid)


class TrafficQuotaState(models.Model):
    """What the account has left of its included bytes, and running totals of what was rated.

    Written only by the rating in the same transaction as the minute facts, so the totals
    always equal the sums over the account's `TrafficMinute` rows.
    """

    account = models.OneToOneField(
        TrafficAccount, on_delete=models.CASCADE, primary_key=True, related_name="quota_state"
    )
    remaining_included_bytes = models.BigIntegerField()
    uplink_bytes = models.BigIntegerField(default=0)
    downlink_bytes = models.BigIntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)
    chargeable_bytes = models.BigIntegerField(default=0)
    credits = CreditsField(default=0)
    last_rated_minute = models.DateTimeField(null=True, blank=True)
    period_started_at = models.DateTimeField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "usage_trafficquotastate"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remaining_included_bytes__gte=0),
                name="trafficquota_remaining_not_negative",
                violation_error_message="The remaining included bytes cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.remaining_included_bytes} included bytes left"


class TrafficCounterState(models.Model):
    """Delta state of one (node, account uuid): last totals and time seen, the open minute.

    `node_id` is the storage node id (`<env>:<node id>`). See traffic/deltas.py.
    """

    node_id = models.CharField(max_length=200)
    account_uuid = models.UUIDField()
    source_id = models.CharField(max_length=64)
    last_uplink_total = models.BigIntegerField()
    last_downlink_total = models.BigIntegerField()
    last_seen_at = models.DateTimeField()
    open_minute = models.DateTimeField(null=True, blank=True)
    open_uplink_bytes = models.BigIntegerField(default=0)
    open_downlink_bytes = models.BigIntegerField(default=0)
    open_inbound_tags = models.CharField(max_length=500, blank=True)
    sealed_through = models.DateTimeField(null=True, blank=True)
    reset_count = models.IntegerField(default=0)
    source_revision = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "usage_trafficcounterstate"
        constraints = [
            models.UniqueConstraint(
                fields=["node_id", "account_uuid"], name="trafficcounter_unique_node_account"
            ),
            models.CheckConstraint(
                condition=models.Q(last_uplink_total__gte=0, last_downlink_total__gte=0),
                name="trafficcounter_totals_not_negative",
                violation_error_message="Counter totals cannot be negative.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["source_id", "open_minute"],
                name="trafficcounter_open",
                condition=models.Q(open_minute__isnull=False),
            )
        ]

    def __str__(self) -> str:
        return f"{self.node_id}/{self.account_uuid}"


class TrafficMinute(models.Model):
    """One rated minute of one account on one node: a fact, inserted once, never changed.

    Unique on (minute, node, account uuid, region, line): pulling the same snapshots again
    finds the row and counts a replay. The rating (included, chargeable, credits) is stored
    with the bytes; the matching `UsageEntry` has object id `entry_key`.
    """

    id = models.BigAutoField(primary_key=True)
    minute = models.DateTimeField()
    node_id = models.CharField(max_length=200)
    account_uuid = models.UUIDField()
    region = models.CharField(max_length=32)
    line = models.CharField(max_length=64, blank=True)
    attribution_id = models.CharField(max_length=64)
    source_id = models.CharField(max_length=64)
    uplink_bytes = models.BigIntegerField()
    downlink_bytes = models.BigIntegerField()
    total_bytes = models.BigIntegerField()
    included_bytes = models.BigIntegerField()
    chargeable_bytes = models.BigIntegerField()
    credits = CreditsField()
    price_per_byte = RateField()
    multiplier = models.DecimalField(max_digits=24, decimal_places=12)
    pricing_rule_version = models.CharField(max_length=100, blank=True)
    inbound_tags = models.CharField(max_length=500, blank=True)
    entry_key = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "usage_trafficminute"
        ordering = ["-minute", "node_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["minute", "node_id", "account_uuid", "region", "line"],
                name="trafficminute_unique_bucket",
            ),
            models.CheckConstraint(
                condition=models.Q(uplink_bytes__gte=0, downlink_bytes__gte=0, included_bytes__gte=0)
                & models.Q(total_bytes=models.F("uplink_bytes") + models.F("downlink_bytes"))
                & models.Q(chargeable_bytes=models.F("total_bytes") - models.F("included_bytes"))
                & models.Q(chargeable_bytes__gte=0),
                name="trafficminute_bytes_consistent",
                violation_error_message=(
                    "A traffic minute's bytes must add up: total = uplink + downlink, chargeable = total - "
                    "included, none negative."
                ),
            ),
        ]
        indexes = [
            models.Index(fields=["account_uuid", "minute"], name="trafficminute_account_minute"),
            models.Index(fields=["attribution_id", "minute"], name="trafficminute_attr_minute"),
        ]

    def __str__(self) -> str:
        return f"{self.account_uuid} {self.node_id} {self.minute:%Y-%m-%d %H:%M}: {self.total_bytes} B"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Traffic minutes are facts: they are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Traffic minutes are facts: they are never deleted.")
