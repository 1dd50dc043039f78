"""Reading /metrics the way Prometheus does, for tests that check a metric moved."""

from prometheus_client.parser import text_string_to_metric_families


def scrape(client) -> dict[tuple[str, frozenset], float]:
    """Every sample on /metrics (fetched on loopback) as {(name, labels): value}."""
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200, response.content
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    """One sample's value; 0 when it was never observed (a labelled counter starts absent)."""
    return samples.get((name, frozenset(labels.items())), 0.0)
