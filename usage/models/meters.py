"""Meters, their effective-dated rates, meter event facts and per-minute rollups."""

from django.db import models

from core.fields import RateField
from core.models import TimeStampedModel


class Meter(TimeStampedModel):
    """An amount type events may carry (`container-seconds`, `traffic-bytes`, ...)."""

    slug = models.SlugField(max_length=64, unique=True)
    unit = models.CharField(max_length=32, help_text="seconds, bytes, samples, ...")
    description = models.CharField(max_length=500, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class MeterRate(TimeStampedModel):
    """Credits per unit of a meter from `effective_from` on, until the next rate takes over."""

    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, related_name="rates")
    credits_per_unit = RateField()
    effective_from = models.DateTimeField()

    class Meta:
        ordering = ["meter", "-effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["meter", "effective_from"], name="meterrate_unique_start"),
            models.CheckConstraint(
                condition=models.Q(credits_per_unit__gte=0),
                name="meterrate_not_negative",
                violation_error_message="A rate cannot be negative; use 0 for free usage.",
            ),
        ]

    def __str__(self) -> str:
        rate = f"{self.credits_per_unit.normalize():f}"  # 0.0015, not 0.001500000000000
        return f"{self.meter_id}: {rate}/unit from {self.effective_from:%Y-%m-%d %H:%M}"


class MeterEvent(models.Model):
    """One stored amount of one event: `<unique_key>:<meter slug>`. Insert-only.

    The dedup key includes the attribution id (DESIGN §12: keys on facts carry it, so the
    table can be sharded by attribution later); a retry always repeats both.
    """

    id = models.BigAutoField(primary_key=True)
    attribution_id = models.CharField(max_length=64)
    key = models.CharField(max_length=300)
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, db_constraint=False, related_name="+")
    occurred_at = models.DateTimeField()
    amount = models.BigIntegerField()
    instance_id = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(null=True, blank=True)
    received_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["attribution_id", "key"], name="meterevent_unique_key"),
            models.CheckConstraint(
                condition=models.Q(amount__gt=0),
                name="meterevent_amount_positive",
                violation_error_message="A meter event's amount must be greater than 0.",
            ),
        ]
        indexes = [
            models.Index(fields=["attribution_id", "meter", "occurred_at"], name="meterevent_attr_meter_time")
        ]

    def __str__(self) -> str:
        return self.key

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Meter events are facts: they are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Meter events are facts: they are never deleted.")


class MeterRollup(models.Model):
    """Sum of a meter for one attribution and one minute, kept in step with inserts.

    `rated_total` is how much of `total` the rating job has already turned into usage
    entries; balances price the difference on the fly, so an event counts the moment its
    request returns.
    """

    id = models.BigAutoField(primary_key=True)
    attribution_id = models.CharField(max_length=64)
    meter = models.ForeignKey(Meter, on_delete=models.PROTECT, db_constraint=False, related_name="+")
    minute = models.DateTimeField()
    total = models.BigIntegerField(default=0)
    event_count = models.IntegerField(default=0)
    rated_total = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["attribution_id", "meter", "minute"], name="meterrollup_unique_minute"
            ),
            models.CheckConstraint(
                condition=models.Q(rated_total__lte=models.F("total")),
                name="meterrollup_rated_le_total",
                violation_error_message="A rollup cannot have more rated than it has in total.",
            ),
        ]
        indexes = [
            models.Index(
                fields=["attribution_id", "meter", "minute"],
                name="meterrollup_unrated",
                condition=models.Q(rated_total__lt=models.F("total")),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.attribution_id} {self.meter_id} {self.minute:%Y-%m-%d %H:%M} = {self.total}"
