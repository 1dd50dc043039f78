import uuid
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import factory

from core.attribution import team_attribution_id
from usage.models import UsageEntry, WorkspaceClass, WorkspaceInstance


def recent_noon() -> datetime:
    """Noon UTC of yesterday on the clock the tests run on (real, or shifted by
    TALLY_TEST_CLOCK_SHIFT_DAYS): 12 to 36 hours ago when imported, so inside a cycle that
    started days ago and the 35-day ingest and reconcile windows, and never in the future.
    A fixed date here fell out of the team page's cycle as the calendar moved on."""
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    return datetime.combine(yesterday, time(12, 0), tzinfo=UTC)


NOON = recent_noon()


def new_attribution_id() -> str:
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


# --- Traffic from exporters -----------------------------------------------------------------


class ExporterSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "usage.ExporterSource"
        django_get_or_create = ("source_id",)

    source_id = factory.Sequence(lambda n: f"node-{n}")
    base_url = "http://127.0.0.1:9"
    enabled = True
    timeout_seconds = 5


def traffic_account(*, account_uuid: str | None = None, attribution_id: str | None = None, **profile):
    """A traffic account created ahead of its traffic (through the service, hook included)."""
    from usage.traffic.services import traffic_account_create

    account_uuid = account_uuid or str(uuid.uuid4())
    return traffic_account_create(
        account_uuid=account_uuid, attribution_id=attribution_id or f"user:{account_uuid}", **profile
    )


class ExporterNode:
    """A fake exporter (usage.traffic.devtools) on 127.0.0.1 and the ExporterSource pulling it."""

    def __init__(
        self, *, node_id: str, accounts, token: str, seed: int = 0, source_id: str | None = None, **source
    ):
        from usage.traffic.devtools import ExporterServer, FakeExporter, TrafficGenerator

        generator_options = {k: source.pop(k) for k in ("env", "max_bytes", "idle_share") if k in source}
        self.generator = TrafficGenerator(node_id=node_id, accounts=accounts, seed=seed, **generator_options)
        self.exporter = FakeExporter(self.generator, token=token)
        self.server = ExporterServer(self.exporter).start()
        self.source = ExporterSourceFactory(
            source_id=source_id or node_id, base_url=self.server.url, **source
        )

    def stop(self) -> None:
        self.server.stop()
