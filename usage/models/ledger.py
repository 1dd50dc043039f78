"""The usage ledger (Gitpod's UsageService): entries and cost centers."""

import uuid

from django.db import models

from core.errors import Conflict
from core.fields import CreditsField
from core.models import TimeStampedModel


class UsageEntry(TimeStampedModel):
    """One priced line of an attribution's usage ledger.

    Signs: usage is positive; invoices, credit notes and grant coverage are negative. A draft
    (a running workspace, the current hour of a meter) is rewritten in place until it is
    final; a final entry is never changed or deleted (a database trigger enforces it, see
    migration 0002).
    """

    class Kind(models.TextChoices):
        WORKSPACE = "workspace", "Workspace"
        METER = "meter", "Meter"
        TRAFFIC = "traffic", "Traffic"
        CREDIT_NOTE = "creditnote", "Credit note"
        INVOICE = "invoice", "Invoice"
        GRANT_COVERAGE = "grantcoverage", "Grant coverage"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    attribution_id = models.CharField(max_length=64)
    description = models.CharField(max_length=500, blank=True)
    credits = CreditsField()
    effective_time = models.DateTimeField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    # Instance id or a deterministic key: a second write of the same thing finds the first.
    # unique + null: PostgreSQL lets any number of NULLs coexist, so "unique where set".
    object_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    draft = models.BooleanField(default=False)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "usage entries"
        ordering = ["-effective_time"]
        indexes = [
            models.Index(fields=["attribution_id", "effective_time"], name="usageentry_attr_time"),
            models.Index(fields=["kind", "draft"], name="usageentry_kind_draft"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    kind__in=["workspace", "meter", "traffic", "creditnote", "invoice", "grantcoverage"]
                ),
                name="usageentry_kind_valid",
                violation_error_message=(
                    "A usage entry's kind is one of workspace, meter, traffic, creditnote, invoice or "
                    "grantcoverage."
                ),
            ),
            models.CheckConstraint(
                condition=~models.Q(kind__in=["invoice", "creditnote", "grantcoverage"])
                | models.Q(draft=False),
                name="usageentry_only_usage_is_draft",
                violation_error_message=(
                    "Only usage (workspace, meter, traffic) can be a draft; credit notes, invoices and "
                    "grant coverage are final."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.credits} for {self.attribution_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding and UsageEntry.objects.filter(pk=self.pk, draft=False).exists():
            raise Conflict("A final usage entry cannot be changed.", code="entry_final")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if UsageEntry.objects.filter(pk=self.pk, draft=False).exists():
            raise Conflict("A final usage entry cannot be deleted.", code="entry_final")
        return super().delete(*args, **kwargs)


class BillingStrategy(models.TextChoices):
    STRIPE = "stripe", "Stripe"
    OTHER = "other", "Other"


class CostCenter(TimeStampedModel):
    """Who pays for an attribution, how much per cycle at most, and when the cycle turns.

    The row holds the current state; every change also appends a CostCenterVersion.
    """

    BillingStrategy = BillingStrategy

    attribution_id = models.CharField(max_length=64, unique=True)
    spending_limit = CreditsField(help_text="Credits per billing cycle.")
    # The team's own budget, at most finance's spending limit (the ceiling); None: none set.
    team_budget = CreditsField(
        null=True, blank=True, help_text="The team's own limit per cycle, at most the spending limit."
    )
    billing_strategy = models.CharField(max_length=10, choices=BillingStrategy.choices, default="other")
    billing_cycle_start = models.DateTimeField()
    next_billing_time = models.DateTimeField()
    # Set while a payment dispute (or staff) blocks usage: entitlement checks deny access.
    blocked_at = models.DateTimeField(null=True, blank=True)
    blocked_reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["attribution_id"]
        indexes = [models.Index(fields=["billing_strategy", "next_billing_time"], name="costcenter_due")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(spending_limit__gte=0),
                name="costcenter_limit_not_negative",
                violation_error_message=(
                    "The spending limit cannot be negative; use 0 to block all billable usage."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(billing_strategy__in=["stripe", "other"]),
                name="costcenter_strategy_valid",
                violation_error_message="The billing strategy is either stripe or other.",
            ),
            models.CheckConstraint(
                condition=models.Q(team_budget__isnull=True) | models.Q(team_budget__gte=0),
                name="costcenter_team_budget_not_negative",
                violation_error_message="A team's budget cannot be negative.",
            ),
            models.CheckConstraint(
                condition=models.Q(next_billing_time__gt=models.F("billing_cycle_start")),
                name="costcenter_cycle_forward",
                violation_error_message="The next billing time must be after the cycle start.",
            ),
        ]

    def __str__(self) -> str:
        return self.attribution_id


class CostCenterVersion(models.Model):
    """Append-only history of a cost center: one row per change, newest last."""

    cost_center = models.ForeignKey(CostCenter, on_delete=models.CASCADE, related_name="versions")
    spending_limit = CreditsField()
    team_budget = CreditsField(null=True, blank=True)
    billing_strategy = models.CharField(max_length=10, choices=BillingStrategy.choices)
    billing_cycle_start = models.DateTimeField()
    next_billing_time = models.DateTimeField()
    reason = models.CharField(max_length=200)
    changed_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(spending_limit__gte=0),
                name="costcenterversion_limit_not_negative",
                violation_error_message="The spending limit cannot be negative.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cost_center_id} @ {self.created_at:%Y-%m-%d %H:%M}: {self.reason}"
