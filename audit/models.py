from django.db import models
from django.utils import timezone

from core import context


class AuditEvent(models.Model):
    """Who changed what in a finance-relevant model, when, from where, with the values before and
    after. Append-only: the database refuses UPDATE and DELETE (migration 0002)."""

    class ActorKind(models.TextChoices):
        USER = context.KIND_USER, "User"
        API_KEY = context.KIND_API_KEY, "API key"
        INTERNAL = context.KIND_INTERNAL, "Internal service token"
        JOB = context.KIND_JOB, "Job"
        SYSTEM = context.KIND_SYSTEM, "System"

    class Source(models.TextChoices):
        ADMIN = context.SOURCE_ADMIN, "Admin"
        API = context.SOURCE_API, "API"
        WEB = context.SOURCE_WEB, "Team pages"
        WEBHOOK = context.SOURCE_WEBHOOK, "Stripe webhook"
        JOB = context.SOURCE_JOB, "Job"
        SHELL = context.SOURCE_SHELL, "Shell or command"

    occurred_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=64, help_text="e.g. cost_center.updated, grant.voided")
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    attribution_id = models.CharField(max_length=64, blank=True)
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=200, blank=True, help_text="username, key prefix, job name")
    source = models.CharField(max_length=10, choices=Source.choices)
    request_id = models.CharField(max_length=100, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["-occurred_at", "-id"], name="auditevent_recent"),
            models.Index(fields=["attribution_id", "-occurred_at"], name="auditevent_attribution"),
            models.Index(fields=["object_type", "object_id", "-occurred_at"], name="auditevent_object"),
            models.Index(fields=["action", "-occurred_at"], name="auditevent_action"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(actor_kind__in=context.ACTOR_KINDS),
                name="auditevent_actor_kind_valid",
                violation_error_message="The actor kind is not one Tally knows.",
            ),
            models.CheckConstraint(
                condition=models.Q(source__in=context.SOURCES),
                name="auditevent_source_valid",
                violation_error_message="The source is not one Tally knows.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.occurred_at:%Y-%m-%d %H:%M:%S} {self.action} {self.object_type}:{self.object_id}"
