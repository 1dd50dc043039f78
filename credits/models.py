"""Credits (DESIGN §6, after OpenMeter): features, ledgers, grants, resets and balance snapshots.

What must always hold is a database constraint here, or a trigger (migration 0002): amounts
are positive, priorities fit 0 to 255, a grant expires after it starts, a rollover's minimum is not
above its maximum, one ledger per attribution, one reset per ledger and minute, and a grant's
terms and its void are written once. Every time stored here is truncated to the minute, the
burn-down engine's resolution.
"""

from django.db import models
from django.db.models import F, Q

from core.attribution import MAX_LENGTH as ATTRIBUTION_MAX_LENGTH
from core.fields import CreditsField
from core.models import TimeStampedModel
from credits.engine import MAX_PRIORITY, ExpirationUnit, RolloverType

GENERIC_FEATURE_KEY = "credits"
"""The feature a grant without a feature pays for: rated usage credits."""

EXPIRATION_UNITS = [unit.value for unit in ExpirationUnit]
ROLLOVER_TYPES = [kind.value for kind in RolloverType]


class Feature(TimeStampedModel):
    """Something grants pay for: rated credits (`meter_slug="credits"`) or a usage meter.

    `metadata_filters` is stored for a later filter on event metadata; rollups carry no
    metadata yet, so it is not applied (docs/credits.md). Deleting a feature archives it; its key
    stays taken so history keeps one meaning per key.
    """

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    meter_slug = models.SlugField(max_length=64, default=GENERIC_FEATURE_KEY)
    metadata_filters = models.JSONField(default=dict, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None


class Ledger(TimeStampedModel):
    """The credits ledger of one attribution. Its row is the lock every write takes."""

    attribution_id = models.CharField(max_length=ATTRIBUTION_MAX_LENGTH, unique=True)
    # The newest Reset's time, kept by ledger_reset under this row's lock: a balance then knows
    # without a query whether a reset happened since its snapshot.
    last_reset_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["attribution_id"]

    def __str__(self) -> str:
        return self.attribution_id


class Reset(models.Model):
    """A reset at `effective_at`: grants that took effect before it end (rolling over into children),
    overage is dropped, and nothing may take effect before it any more."""

    ledger = models.ForeignKey(Ledger, on_delete=models.PROTECT, related_name="resets")
    effective_at = models.DateTimeField()
    # The period this reset closed, per feature key: its usage, and the overage it wrote off
    # (what no grant paid). Usage minus overage is what grants paid in that period.
    closing_usage = models.JSONField(default=dict)
    closing_overage = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["ledger", "-effective_at"]
        constraints = [
            models.UniqueConstraint(fields=["ledger", "effective_at"], name="credits_reset_unique_time"),
        ]

    def __str__(self) -> str:
        return f"reset of {self.ledger_id} at {self.effective_at:%Y-%m-%d %H:%M}"


class Grant(TimeStampedModel):
    """Credits that pay for one feature's usage inside [effective_at, min(expires_at, voided_at)).

    Append-only: the terms never change after insert and `voided_at`, once set, stays (the
    database refuses otherwise, migration 0002). A rollover child has `parent` (the grant it
    continues) and `reset` (the reset that created it).
    """

    ledger = models.ForeignKey(Ledger, on_delete=models.PROTECT, related_name="grants")
    feature = models.ForeignKey(
        Feature,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="grants",
        help_text="Empty: the grant pays for rated usage credits.",
    )
    amount = CreditsField()
    priority = models.PositiveSmallIntegerField(default=1, help_text="0 to 255, lower burns first.")
    effective_at = models.DateTimeField()
    expiration_count = models.PositiveIntegerField(null=True, blank=True)
    # NULL, not "", for "no expiration" / "no rollover": the check constraints read them as absent.
    expiration_unit = models.CharField(  # noqa: DJ001
        max_length=5, choices=[(u, u) for u in EXPIRATION_UNITS], null=True, blank=True
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    rollover_type = models.CharField(  # noqa: DJ001
        max_length=16, choices=[(t, t) for t in ROLLOVER_TYPES], null=True, blank=True
    )
    rollover_max_amount = CreditsField(null=True, blank=True)
    rollover_min_amount = CreditsField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    voided_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="rollover_children"
    )
    reset = models.ForeignKey(
        Reset, null=True, blank=True, on_delete=models.PROTECT, related_name="rollover_grants"
    )

    class Meta:
        ordering = ["ledger", "effective_at", "id"]
        indexes = [
            models.Index(fields=["ledger", "effective_at"], name="credits_grant_ledger_start"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="credits_grant_amount_positive",
                violation_error_message="A grant's amount must be greater than 0.",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=0, priority__lte=MAX_PRIORITY),
                name="credits_grant_priority_range",
                violation_error_message=(
                    "The priority must be between 0 and the highest allowed priority (lower burns first)."
                ),
            ),
            models.CheckConstraint(
                condition=Q(expires_at__isnull=True) | Q(expires_at__gt=F("effective_at")),
                name="credits_grant_expires_after_start",
                violation_error_message="A grant must expire after it takes effect.",
            ),
            models.CheckConstraint(
                condition=Q(expiration_count__isnull=True, expiration_unit__isnull=True)
                | Q(
                    # IS NOT NULL spelled out: IN (...) on a NULL is unknown, which a CHECK lets pass.
                    expiration_count__gte=1,
                    expiration_unit__isnull=False,
                    expiration_unit__in=EXPIRATION_UNITS,
                    expires_at__isnull=False,
                ),
                name="credits_grant_expiration_whole",
                violation_error_message=(
                    "Give an expiration as a count of at least 1 with a unit (and so an expiry time), or "
                    "leave both empty."
                ),
            ),
            models.CheckConstraint(
                condition=Q(rollover_type__isnull=True) | Q(rollover_type__in=ROLLOVER_TYPES),
                name="credits_grant_rollover_type_valid",
                violation_error_message="The rollover type is not one Tally knows.",
            ),
            models.CheckConstraint(
                condition=Q(rollover_type__isnull=False)
                | Q(rollover_max_amount__isnull=True, rollover_min_amount__isnull=True),
                name="credits_grant_rollover_bounds_need_type",
                violation_error_message="Rollover limits need a rollover type.",
            ),
            models.CheckConstraint(
                condition=(Q(rollover_max_amount__isnull=True) | Q(rollover_max_amount__gte=0))
                & (Q(rollover_min_amount__isnull=True) | Q(rollover_min_amount__gte=0)),
                name="credits_grant_rollover_bounds_not_negative",
                violation_error_message="Rollover limits cannot be negative.",
            ),
            models.CheckConstraint(
                condition=Q(rollover_max_amount__isnull=True)
                | Q(rollover_min_amount__isnull=True)
                | Q(rollover_min_amount__lte=F("rollover_max_amount")),
                name="credits_grant_rollover_min_le_max",
                violation_error_message="The rollover minimum cannot be above the rollover maximum.",
            ),
            models.CheckConstraint(
                condition=Q(parent__isnull=True) | Q(reset__isnull=False),
                name="credits_grant_child_names_its_reset",
                violation_error_message="A rolled-over grant must name the reset it came from.",
            ),
        ]

    def __str__(self) -> str:
        return f"grant {self.pk} of {self.amount} on {self.ledger_id}"

    @property
    def feature_key(self) -> str | None:
        """The feature's key, None for rated credits (the engine's generic feature)."""
        return self.feature.key if self.feature_id is not None else None


class BalanceSnapshot(models.Model):
    """The state of a ledger at `at`, so a balance reads only usage after it.

    `balances` {grant id: "decimal"}, `overage` and `usage` {feature key: "decimal"} (usage is
    since `period_start`, the last reset at or before `at`, None before the first reset). The
    keys of `overage` are the features this snapshot tracks. A write that takes effect at or
    before `at` deletes the snapshot (and the stored grant usage after the newest one left).
    """

    class Reason(models.TextChoices):
        PERIODIC = "PERIODIC", "Periodic (credits.snapshot job)"
        RESET = "RESET", "Reset"

    ledger = models.ForeignKey(Ledger, on_delete=models.CASCADE, related_name="snapshots")
    at = models.DateTimeField()
    period_start = models.DateTimeField(null=True, blank=True)
    balances = models.JSONField(default=dict)
    overage = models.JSONField(default=dict)
    usage = models.JSONField(default=dict)
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.PERIODIC)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ledger", "-at"]
        constraints = [
            models.UniqueConstraint(fields=["ledger", "at"], name="credits_snapshot_unique_time"),
            models.CheckConstraint(
                condition=Q(reason__in=["PERIODIC", "RESET"]),
                name="credits_snapshot_reason_valid",
                violation_error_message="A snapshot's reason is PERIODIC or RESET.",
            ),
        ]

    def __str__(self) -> str:
        return f"snapshot of {self.ledger_id} at {self.at:%Y-%m-%d %H:%M}"


class GrantUsage(models.Model):
    """What one grant paid in [period_start, period_end): the GRANT_USAGE entries of history.

    Written with each snapshot for the span since the previous one, so the rows cover history
    up to the newest snapshot exactly once; history computes the rest on the fly.
    """

    ledger = models.ForeignKey(Ledger, on_delete=models.CASCADE, related_name="grant_usage")
    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="usage")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    amount = CreditsField()

    class Meta:
        ordering = ["ledger", "period_start", "grant_id"]
        indexes = [
            models.Index(fields=["ledger", "period_start"], name="credits_grantusage_start"),
            models.Index(fields=["ledger", "period_end"], name="credits_grantusage_end"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="credits_grantusage_amount_positive",
                violation_error_message="A grant usage's amount must be greater than 0.",
            ),
            models.CheckConstraint(
                condition=Q(period_end__gt=F("period_start")),
                name="credits_grantusage_period_forward",
                violation_error_message="A grant usage's period must end after it starts.",
            ),
        ]

    def __str__(self) -> str:
        return f"grant {self.grant_id} paid {self.amount}"


class AllowanceTemplate(TimeStampedModel):
    """Credits an attribution receives every billing cycle ("200 credits every cycle").

    The cycle-close job issues one grant per active template for each new cycle, in the
    transaction of the reset (AllowanceIssue keeps it to once per cycle); the grant starts at
    the cycle start and, with `expires_at_cycle_end`, ends with the cycle.
    """

    attribution_id = models.CharField(max_length=ATTRIBUTION_MAX_LENGTH, db_index=True)
    name = models.CharField(max_length=200, blank=True)
    amount = CreditsField()
    feature = models.ForeignKey(
        Feature,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="allowance_templates",
        help_text="Empty: the allowance pays for rated usage credits.",
    )
    priority = models.PositiveSmallIntegerField(default=5, help_text="0 to 255, lower burns first.")
    expires_at_cycle_end = models.BooleanField(default=True)
    active = models.BooleanField(default=True)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["attribution_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0),
                name="credits_allowance_amount_positive",
                violation_error_message="An allowance's amount must be greater than 0.",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=0, priority__lte=MAX_PRIORITY),
                name="credits_allowance_priority_range",
                violation_error_message="The priority must be between 0 and 255 (lower burns first).",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.amount} every cycle for {self.attribution_id}"


class AllowanceIssue(models.Model):
    """One template issued for one cycle: the grant it became. Unique per (template, cycle)."""

    template = models.ForeignKey(AllowanceTemplate, on_delete=models.PROTECT, related_name="issues")
    cycle_start = models.DateTimeField()
    grant = models.OneToOneField(Grant, on_delete=models.PROTECT, related_name="allowance_issue")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["template", "-cycle_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "cycle_start"],
                name="credits_allowance_once_per_cycle",
                violation_error_message="This allowance was already issued for this cycle.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.template} for the cycle from {self.cycle_start:%Y-%m-%d %H:%M}"
