import pytest

from core.models import APIKey, hash_api_key
from core.services import api_key_create, api_key_revoke
from core.tests.factories import APIKeyFactory


@pytest.mark.django_db
def test_internal_token_is_a_staff_machine_credential(internal_client):
    response = internal_client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json() == {"kind": "internal", "is_staff": True, "attribution_ids": None}


@pytest.mark.django_db
def test_a_valid_team_key_reaches_its_own_team(team, team_key_client):
    me = team_key_client.get("/api/v1/me").json()
    assert me == {"kind": "api_key", "is_staff": False, "attribution_ids": [team.attribution_id]}
    response = team_key_client.get(f"/api/v1/teams/{team.attribution_id}")
    assert response.status_code == 200
    assert response.json()["slug"] == "acme"


@pytest.mark.django_db
def test_a_team_key_gets_404_for_another_team(other_team, team_key_client):
    response = team_key_client.get(f"/api/v1/teams/{other_team.attribution_id}")
    assert response.status_code == 404
    listed = team_key_client.get("/api/v1/teams").json()
    assert [t["slug"] for t in listed["results"]] == ["acme"]


@pytest.mark.django_db
def test_a_revoked_key_is_refused(team, api_client):
    api_key, raw_key = api_key_create(name="ci", attribution_id=team.attribution_id)
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api_client.get("/api/v1/me").status_code == 200

    api_key_revoke(api_key=api_key)

    response = api_client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json() == {"error": "authentication_failed", "message": "The API key has been revoked."}


@pytest.mark.django_db
def test_an_unknown_key_is_refused(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer tally_doesnotexist")
    assert api_client.get("/api/v1/me").status_code == 401


@pytest.mark.django_db
def test_keys_are_hashed_at_rest_and_shown_once(team):
    api_key, raw_key = api_key_create(name="ci", attribution_id=team.attribution_id)
    stored = APIKey.objects.get(pk=api_key.pk)
    assert stored.key_hash == hash_api_key(raw_key)
    assert raw_key not in {stored.key_hash, stored.prefix, stored.name}
    assert stored.prefix == raw_key[:12]


@pytest.mark.django_db
def test_key_use_is_recorded(team_key_client, team_key):
    assert team_key.last_used_at is None
    team_key_client.get("/api/v1/me")
    team_key.refresh_from_db()
    assert team_key.last_used_at is not None


@pytest.mark.django_db
def test_session_members_see_only_their_teams(api_client, team, other_team, member):
    api_client.force_login(member)
    assert api_client.get(f"/api/v1/teams/{team.attribution_id}").status_code == 200
    assert api_client.get(f"/api/v1/teams/{other_team.attribution_id}").status_code == 404


@pytest.mark.django_db
def test_malformed_attribution_in_a_path_is_400(internal_client):
    response = internal_client.get("/api/v1/teams/team:not-a-uuid")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_attribution_id"


@pytest.mark.django_db
def test_staff_create_teams_and_nothing_is_stored_on_bad_input(internal_client):
    from billing.models import Team

    bad = internal_client.post("/api/v1/teams", {"name": "X", "owner_username": "ghost"}, format="json")
    assert bad.status_code == 400
    assert not Team.objects.filter(name="X").exists()
    ok = internal_client.post("/api/v1/teams", {"name": "Initech"}, format="json")
    assert ok.status_code == 201
    assert ok.json()["attribution_id"].startswith("team:")


@pytest.mark.django_db
def test_api_key_factory_keys_authenticate(api_client):
    key = APIKeyFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.raw_key}")
    assert api_client.get("/api/v1/me").json()["attribution_ids"] == [key.attribution_id]
