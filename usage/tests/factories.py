import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import factory

from billing.models import Team
from core.attribution import team_attribution_id
from usage.models import Meter, MeterRollup, UsageEntry, WorkspaceClass, WorkspaceInstance


def recent_noon() -> datetime:
    """Noon UTC of yesterday on the clock the tests run on (real, or shifted by
    TALLY_TEST_CLOCK_SHIFT_DAYS): 12 to 36 hours ago when imported, so inside a cycle that
    started days ago and the 35-day ingest and reconcile windows, and never in the future.
    A fixed date here fell out of the team page's cycle as the calendar moved on."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return datetime.combine(yesterday, time(12, 0), tzinfo=UTC)


NOON = recent_noon()


def new_attribution_id() -> str:
    """A registered payer: the id of a new billing team (billing answers
    `usage.hooks.registered_payers`), as every customer in these tests is one."""
    team_uuid = uuid.uuid4()
    Team.objects.create(uuid=team_uuid, name=f"Team {str(team_uuid)[:8]}", slug=f"team-{team_uuid}")
    return team_attribution_id(team_uuid)


def unregistered_attribution_id() -> str:
    """A `team:` id that names nobody: usage may arrive for it (a sign-up racing its first
    event, another system's payer), billing state may not be written for it."""
    return team_attribution_id(uuid.uuid4())


class UsageEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageEntry

    attribution_id = factory.LazyFunction(new_attribution_id)
    description = "usage"
    credits = Decimal("1.000000")
    effective_time = NOON
    kind = UsageEntry.Kind.WORKSPACE
    draft = False


class WorkspaceClassFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkspaceClass
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"class-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    credits_per_minute = Decimal("0.166666666666667")


class WorkspaceInstanceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WorkspaceInstance

    instance_id = factory.Sequence(lambda n: f"inst-{n:05d}")
    attribution_id = factory.LazyFunction(new_attribution_id)
    workspace_class = "g1-standard"
    started_at = NOON


class MeterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Meter
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"meter-{n}")
    unit = "units"


class MeterRollupFactory(factory.django.DjangoModelFactory):
    """A minute of a meter's usage for one attribution, as ingestion keeps it (not yet rated)."""

    class Meta:
        model = MeterRollup

    attribution_id = factory.LazyFunction(new_attribution_id)
    meter = factory.SubFactory(MeterFactory)
    minute = NOON
    total = 1
    event_count = 1


def meter_usage(attribution_id: str, meter: Meter, units: int, at: datetime) -> MeterRollup:
    """`units` of `meter` used by `attribution_id` in the minute of `at`."""
    return MeterRollupFactory(
        attribution_id=attribution_id, meter=meter, minute=at.replace(second=0, microsecond=0), total=units
    )
