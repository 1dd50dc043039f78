import pytest


@pytest.mark.django_db
def test_metrics_on_loopback(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert b"tally_job_runs_total" in response.content


@pytest.mark.django_db
def test_metrics_from_elsewhere_need_the_internal_token(client, settings):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    ok = client.get(
        "/metrics",
        REMOTE_ADDR="203.0.113.9",
        HTTP_AUTHORIZATION=f"Bearer {settings.INTERNAL_SERVICE_TOKEN}",
    )
    assert ok.status_code == 200


@pytest.mark.django_db
def test_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert schema.json()["info"]["title"] == "Tally API"
    assert "/api/v1/teams" in schema.json()["paths"]
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    # Self-contained: the docs page loads its assets from us, never a CDN.
    assert b"cdn.jsdelivr" not in docs.content
