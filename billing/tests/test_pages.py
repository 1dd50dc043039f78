import pytest

from billing.tests.factories import DEFAULT_PASSWORD


@pytest.mark.django_db
def test_login_page_renders_with_labelled_fields(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<label for="id_username">' in html
    assert '<label for="id_password">' in html


@pytest.mark.django_db
def test_member_signs_in_and_sees_only_their_teams(client, team, other_team, member):
    response = client.post("/accounts/login/", {"username": "bob", "password": DEFAULT_PASSWORD}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Acme" in html
    assert "Globex" not in html
    assert f'<a href="/teams/{team.slug}/billing/">Acme</a>' in html  # the team by name, linked
    assert team.attribution_id not in html  # never its raw attribution id


@pytest.mark.django_db
def test_wrong_password_stays_on_login(client, member):
    response = client.post("/accounts/login/", {"username": "bob", "password": "nope"})
    assert response.status_code == 200
    assert b"didn't match" in response.content


@pytest.mark.django_db
def test_teams_page_needs_sign_in(client):
    response = client.get("/teams/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_home_sends_signed_in_users_to_their_teams(client, member):
    client.force_login(member)
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/teams/"


@pytest.mark.django_db
def test_admin_lists_teams_for_staff(client, staff_user, team):
    client.force_login(staff_user)
    assert client.get("/admin/billing/team/").status_code == 200
    assert client.get(f"/admin/billing/team/{team.pk}/change/").status_code == 200
    assert client.get("/admin/core/apikey/").status_code == 200
    assert client.get("/admin/core/apikey/add/").status_code == 200


@pytest.mark.django_db
def test_admin_creates_a_key_and_shows_it_once(client, staff_user, team):
    from core.models import APIKey, hash_api_key

    client.force_login(staff_user)
    response = client.post(
        "/admin/core/apikey/add/",
        {"name": "deploy", "attribution_id": team.attribution_id},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    shown = next(m for m in messages if "shown once" in m)
    raw_key = shown.rsplit(" ", 1)[-1]
    key = APIKey.objects.get(name="deploy")
    assert key.key_hash == hash_api_key(raw_key)
    assert key.attribution_id == team.attribution_id
