"""Workspace instances reported by the workspace manager, and the classes that price them."""

from django.db import models

from core.fields import RateField
from core.models import TimeStampedModel


class WorkspaceClass(TimeStampedModel):
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    credits_per_minute = RateField()
    description = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "workspace classes"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(credits_per_minute__gte=0),
                name="workspaceclass_rate_not_negative",
                violation_error_message="Credits per minute cannot be negative; use 0 for a free class.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.credits_per_minute}/min)"


class WorkspaceInstance(TimeStampedModel):
    instance_id = models.CharField(max_length=255, unique=True)
    attribution_id = models.CharField(max_length=64)
    workspace_class = models.CharField(max_length=100)
    started_at = models.DateTimeField()
    stopping_time = models.DateTimeField(null=True, blank=True)
    stopped_time = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["attribution_id", "started_at"], name="wsinstance_attr_started"),
            models.Index(fields=["stopped_time"], name="wsinstance_stopped"),
            models.Index(
                fields=["started_at"],
                name="wsinstance_running",
                condition=models.Q(stopping_time__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(stopped_time__isnull=True)
                | models.Q(stopped_time__gte=models.F("started_at")),
                name="wsinstance_stopped_after_start",
                violation_error_message="A workspace instance cannot stop before it started.",
            ),
        ]

    def __str__(self) -> str:
        return self.instance_id
