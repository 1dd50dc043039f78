"""Factories of the traffic app: exporter sources, accounts, and a fake exporter node."""

import uuid

import factory


class ExporterSourceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "traffic.ExporterSource"
        django_get_or_create = ("source_id",)

    source_id = factory.Sequence(lambda n: f"node-{n}")
    base_url = "http://127.0.0.1:9"
    enabled = True
    timeout_seconds = 5


def traffic_account(*, account_uuid: str | None = None, attribution_id: str | None = None, **profile):
    """A traffic account created ahead of its traffic (through the service, hook included)."""
    from traffic.services import traffic_account_create

    account_uuid = account_uuid or str(uuid.uuid4())
    return traffic_account_create(
        account_uuid=account_uuid, attribution_id=attribution_id or f"user:{account_uuid}", **profile
    )


class ExporterNode:
    """A fake exporter (devtools.exporter) on 127.0.0.1 and the ExporterSource pulling it."""

    def __init__(
        self, *, node_id: str, accounts, token: str, seed: int = 0, source_id: str | None = None, **source
    ):
        from devtools.exporter import ExporterServer, FakeExporter, TrafficGenerator

        generator_options = {k: source.pop(k) for k in ("env", "max_bytes", "idle_share") if k in source}
        self.generator = TrafficGenerator(node_id=node_id, accounts=accounts, seed=seed, **generator_options)
        self.exporter = FakeExporter(self.generator, token=token)
        self.server = ExporterServer(self.exporter).start()
        self.source = ExporterSourceFactory(
            source_id=source_id or node_id, base_url=self.server.url, **source
        )

    def stop(self) -> None:
        self.server.stop()
