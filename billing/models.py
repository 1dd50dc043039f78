import uuid

from django.conf import settings
from django.db import models

from core.attribution import team_attribution_id
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
