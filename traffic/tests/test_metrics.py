"""Exporter pulls are counted per source and outcome (real fake exporter over HTTP on 127.0.0.1)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings

from core.tests.prometheus import sample, scrape
from devtools.exporter import make_accounts
from traffic.services import traffic_collect_and_rate
from traffic.tests.factories import ExporterNode

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 23, 12, 6, 10, tzinfo=UTC)


def test_exporter_pulls_are_counted_by_source_and_outcome(client):
    healthy = ExporterNode(
        node_id="metrics-a", accounts=make_accounts(2, seed=11), token=settings.INTERNAL_SERVICE_TOKEN
    )
    failing = ExporterNode(
        node_id="metrics-b", accounts=make_accounts(2, seed=12), token=settings.INTERNAL_SERVICE_TOKEN
    )
    try:
        for node in (healthy, failing):
            node.generator.advance(start=NOW - timedelta(minutes=3), until=NOW, interval=timedelta(minutes=1))
        failing.exporter.inject("error", status=500)
        before = scrape(client)

        result = traffic_collect_and_rate(now=NOW)  # one source works: partial, not CollectFailed

        after = scrape(client)
    finally:
        healthy.stop()
        failing.stop()

    assert result["status"] == "partial"

    def moved(source, outcome):
        return sample(after, "tally_exporter_pulls_total", source=source, outcome=outcome) - sample(
            before, "tally_exporter_pulls_total", source=source, outcome=outcome
        )

    assert (moved("metrics-a", "ok"), moved("metrics-a", "failed")) == (1, 0)
    assert (moved("metrics-b", "ok"), moved("metrics-b", "failed")) == (0, 1)
