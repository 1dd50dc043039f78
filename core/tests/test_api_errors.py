"""Every API error, whoever raises it, leaves as {"error", "message"} JSON — never HTML."""

import pytest
from django.urls import include, path
from rest_framework.views import APIView


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) <= {"error", "message", "details"}
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["error"] == code
    return body


class BoomApi(APIView):
    authentication_classes = []
    permission_classes = []

    def get(self, request):
        raise RuntimeError("a bug")


def plain_boom(request):
    raise RuntimeError("a bug outside DRF")


urlpatterns = [
    path("api/v1/test-boom", BoomApi.as_view()),
    path("api/v1/test-plain-boom", plain_boom),
    path("", include("config.urls")),
]


@pytest.mark.django_db
def test_400_on_bad_input_names_the_field(internal_client):
    response = internal_client.post("/api/v1/teams", {"name": ""}, format="json")
    body = assert_error_shape(response, 400, "invalid")
    assert body["message"].startswith("name:")
    assert "name" in body["details"]


@pytest.mark.django_db
def test_400_on_malformed_json(internal_client):
    response = internal_client.post("/api/v1/teams", "{not json", content_type="application/json")
    assert_error_shape(response, 400, "malformed_request")


@pytest.mark.django_db
def test_401_without_credentials(api_client):
    response = api_client.get("/api/v1/me")
    assert_error_shape(response, 401, "not_authenticated")


@pytest.mark.django_db
def test_401_with_a_wrong_bearer_token(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-the-token")
    response = api_client.get("/api/v1/me")
    assert_error_shape(response, 401, "authentication_failed")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
def test_403_when_a_team_key_calls_a_staff_endpoint(team_key_client):
    response = team_key_client.post("/api/v1/teams", {"name": "Mine"}, format="json")
    assert_error_shape(response, 403, "forbidden")


@pytest.mark.django_db
def test_404_on_an_unknown_api_url(internal_client):
    response = internal_client.get("/api/v1/no-such-thing")
    body = assert_error_shape(response, 404, "not_found")
    assert "/api/v1/no-such-thing" in body["message"]


@pytest.mark.django_db
def test_404_on_an_unknown_api_url_even_with_debug_on(internal_client, settings):
    settings.DEBUG = True
    response = internal_client.get("/api/v1/no-such-thing")
    assert_error_shape(response, 404, "not_found")


@pytest.mark.django_db
def test_405_on_a_wrong_method(internal_client):
    response = internal_client.delete("/api/v1/me")
    body = assert_error_shape(response, 405, "method_not_allowed")
    assert "DELETE" in body["message"]


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_500_inside_a_drf_view_is_json(api_client):
    api_client.raise_request_exception = False
    response = api_client.get("/api/v1/test-boom")
    assert_error_shape(response, 500, "server_error")


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_500_outside_drf_is_json(client):
    client.raise_request_exception = False
    response = client.get("/api/v1/test-plain-boom")
    assert_error_shape(response, 500, "server_error")


@pytest.mark.django_db
def test_human_pages_keep_html_errors(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_metadata_keeps_its_numbers_and_refuses_what_json_cannot_hold(internal_client, team):
    # The parser reads JSON numbers as Decimals; metadata used to answer "Value must be valid
    # JSON" for {"x": 1.5}. Now 1.5 and 7 are stored as the numbers they were; 1e5000 is a 400.
    url = f"/api/v1/ledgers/{team.attribution_id}/grants"
    body = (
        '{"amount": "5", "metadata": {"ratio": 1.5, "count": 7, "nested": [0.25, {"n": 2}], "tiny": 1e-320}}'
    )
    created = internal_client.post(url, body, content_type="application/json")
    assert created.status_code == 201, created.json()
    assert created.json()["metadata"] == {
        "ratio": 1.5,
        "count": 7,
        "nested": [0.25, {"n": 2}],
        "tiny": 1e-320,
    }

    too_big = internal_client.post(
        url, '{"amount": "5", "metadata": {"x": 1e5000}}', content_type="application/json"
    )
    assert too_big.status_code == 400
    assert too_big.json()["message"] == "metadata: metadata holds a number out of range."
