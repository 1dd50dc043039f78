import uuid

from django.conf import settings
from django.db import models

from core.attribution import team_attribution_id
from core.fields import CreditsField
from core.models import TimeStampedModel


class Team(TimeStampedModel):
    """Owns the attribution id `team:<uuid>`; usage/ and credits/ only know that id."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def attribution_id(self) -> str:
        return team_attribution_id(self.uuid)


class Membership(TimeStampedModel):
    class Role(models.TextChoices):
        OWNER = "OWNER", "Owner"
        MEMBER = "MEMBER", "Member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "user"], name="membership_unique_team_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=["OWNER", "MEMBER"]),
                name="membership_role_valid",
                violation_error_message="A member's role is Owner or Member.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class WebhookOutcome(TimeStampedModel):
    """What one Tally handler did with one Stripe event (dj-stripe keeps the raw delivery)."""

    class Status(models.TextChoices):
        STARTED = "started", "Started"
        SUCCEEDED = "succeeded", "Succeeded"
        IGNORED = "ignored", "Ignored"
        FAILED = "failed", "Failed"

    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    handler = models.CharField(max_length=100)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.STARTED)
    attribution_id = models.CharField(max_length=64, blank=True)
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "handler"], name="webhookoutcome_unique_event_handler"
            )
        ]
        indexes = [models.Index(fields=["attribution_id", "-created_at"], name="webhookoutcome_attr")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}: {self.status}"


class UsageReport(TimeStampedModel):
    """One Billing Meter event sent to Stripe: the cycle's billable credits, rounded up."""

    attribution_id = models.CharField(max_length=64)
    customer_id = models.CharField(max_length=255)
    cycle_start = models.DateTimeField()
    quantity = models.BigIntegerField()
    identifier = models.CharField(max_length=255, unique=True)
    event_name = models.CharField(max_length=100)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["attribution_id", "cycle_start", "-created_at"], name="usagereport_cycle")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0),
                name="usagereport_quantity",
                violation_error_message="A usage report's quantity cannot be negative.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.attribution_id} {self.quantity} ({self.identifier})"


class DisputeBlock(TimeStampedModel):
    """A payment dispute that blocks an attribution's usage (and its team's owners)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        WON = "won", "Won (unblocked)"
        LOST = "lost", "Lost (blocked until staff act)"
        RESOLVED = "resolved", "Resolved by staff"

    dispute_id = models.CharField(max_length=255, unique=True)
    attribution_id = models.CharField(max_length=64)
    customer_id = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    reason = models.CharField(max_length=200, blank=True)
    amount_minor = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3, blank=True)
    blocked_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="dispute_blocks"
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.dispute_id} ({self.status}) on {self.attribution_id}"

    @property
    def blocks(self) -> bool:
        return self.status in (self.Status.OPEN, self.Status.LOST)


class CreditPurchase(TimeStampedModel):
    """Credits a team owner buys through one Stripe Checkout Session, and what became of them.

    One row per session (`session_id` is unique); the grant is created once, when Stripe says
    the session is paid (docs/billing.md, "Buying credits").
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open (waiting for payment)"
        PAID = "paid", "Paid (credits granted)"
        EXPIRED = "expired", "Expired (nothing granted)"
        FAILED = "failed", "Payment failed (nothing granted)"
        REFUNDED = "refunded", "Refunded (what was left voided)"

    session_id = models.CharField(max_length=255, unique=True)
    attribution_id = models.CharField(max_length=64)
    credits = CreditsField(help_text="Credits bought.")
    amount_minor = models.BigIntegerField(help_text="What the customer pays, in minor units.")
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    payment_intent_id = models.CharField(max_length=255, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    grant = models.OneToOneField(
        "credits.Grant", null=True, blank=True, on_delete=models.PROTECT, related_name="credit_purchase"
    )
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    refunded_minor = models.BigIntegerField(default=0)
    credits_used_at_refund = CreditsField(null=True, blank=True)
    credits_voided = CreditsField(null=True, blank=True)
    created_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["attribution_id", "-created_at"], name="creditpurchase_attr")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(credits__gt=0) & models.Q(amount_minor__gt=0),
                name="creditpurchase_positive",
                violation_error_message="A credit purchase buys more than 0 credits for more than 0.",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "paid", "expired", "failed", "refunded"]),
                name="creditpurchase_status_valid",
                violation_error_message="A purchase is open, paid, expired, failed or refunded.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=["paid", "refunded"]) | models.Q(grant__isnull=False),
                name="creditpurchase_paid_has_grant",
                violation_error_message="A paid purchase names the grant it created.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.credits} credits for {self.attribution_id} ({self.status})"


class AutoRecharge(TimeStampedModel):
    """A team's auto-recharge: below `threshold` prepaid credits, buy back up to `target`."""

    attribution_id = models.CharField(max_length=64, unique=True)
    enabled = models.BooleanField(default=True)
    threshold = CreditsField(help_text="Recharge when remaining prepaid credits fall below this.")
    target = CreditsField(help_text="Recharge up to this many remaining prepaid credits.")
    currency = models.CharField(max_length=3, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    retry_after = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=500, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    changed_by = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["attribution_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(threshold__gte=0) & models.Q(target__gt=models.F("threshold")),
                name="autorecharge_target_above_threshold",
                violation_error_message="The target must be above the threshold (not negative).",
            ),
        ]

    def __str__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"auto-recharge of {self.attribution_id} below {self.threshold} to {self.target} ({state})"


class Recharge(TimeStampedModel):
    """One off-session charge of auto-recharge; at most one is in flight per attribution."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending (being created)"
        PROCESSING = "processing", "Processing (charged, waiting for Stripe)"
        SUCCEEDED = "succeeded", "Succeeded (credits granted)"
        FAILED = "failed", "Failed"

    IN_FLIGHT = ("pending", "processing")

    attribution_id = models.CharField(max_length=64)
    payment_intent_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    credits = CreditsField()
    amount_minor = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    remaining_before = CreditsField(help_text="Prepaid credits left when the recharge started.")
    grant = models.OneToOneField(
        "credits.Grant", null=True, blank=True, on_delete=models.PROTECT, related_name="recharge"
    )
    failure_message = models.CharField(max_length=500, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["attribution_id", "-created_at"], name="recharge_attr")]
        constraints = [
            models.UniqueConstraint(
                fields=["attribution_id"],
                condition=models.Q(status__in=["pending", "processing"]),
                name="recharge_one_in_flight",
                violation_error_message="A recharge is already in flight for this team.",
            ),
            models.CheckConstraint(
                condition=models.Q(credits__gt=0) & models.Q(amount_minor__gt=0),
                name="recharge_positive",
                violation_error_message="A recharge buys more than 0 credits for more than 0.",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "processing", "succeeded", "failed"]),
                name="recharge_status_valid",
                violation_error_message="A recharge is pending, processing, succeeded or failed.",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="succeeded") | models.Q(grant__isnull=False),
                name="recharge_succeeded_has_grant",
                violation_error_message="A succeeded recharge names the grant it created.",
            ),
        ]

    def __str__(self) -> str:
        return f"recharge of {self.credits} credits for {self.attribution_id} ({self.status})"
