from datetime import timedelta
from decimal import Decimal

import pytest

from core.models import JobRun
from credits.models import BalanceSnapshot, Feature, Grant, Ledger, Reset
from credits.services import grant_create
from credits.tests.factories import T0, rated_usage
from usage.tests.factories import new_attribution_id

pytestmark = pytest.mark.django_db


def test_the_snapshot_schedule_is_registered_by_its_migration():
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    importlib.import_module("credits.migrations.0003_schedule_snapshot").forwards(apps, None)
    task = PeriodicTask.objects.get(name="credits.snapshot")
    assert (task.task, task.interval.every, task.interval.period) == ("credits.snapshot", 1, "hours")


def test_the_snapshot_task_runs_under_its_lock_and_records_the_run(redis):
    from credits.tasks import balance_snapshots_save_due

    grant_create(attribution_id=new_attribution_id(), amount="10", effective_at=T0)

    result = balance_snapshots_save_due.delay().get()

    assert (result["status"], result["saved"]) == ("ok", 1)
    assert JobRun.objects.get(job="credits.snapshot").outcome == "ok"
    assert BalanceSnapshot.objects.count() == 1


def test_a_second_copy_of_the_job_skips(redis):
    from core.locks import job_lock
    from credits.tasks import balance_snapshots_save_due

    with job_lock("credits.snapshot"):
        assert balance_snapshots_save_due.delay().get()["status"] == "skipped"


@pytest.fixture
def staff(client, staff_user):
    client.force_login(staff_user)
    return client


def test_ledger_page_shows_grants_with_their_live_balance(staff):
    who = new_attribution_id()
    grant = grant_create(attribution_id=who, amount="100", effective_at=T0)
    rated_usage(who, Decimal("12.5"), T0 + timedelta(hours=1))
    ledger = grant.ledger

    listing = staff.get("/admin/credits/ledger/")
    page = staff.get(f"/admin/credits/ledger/{ledger.pk}/change/")

    assert listing.status_code == 200
    assert "87.500000" in listing.content.decode()
    assert page.status_code == 200
    html = page.content.decode()
    assert "87.500000" in html and "100.000000" in html
    assert "text-align:right" in html


def test_staff_create_a_grant_through_the_service(staff):
    who = new_attribution_id()
    form = staff.get(f"/admin/credits/grant/add/?attribution_id={who}")
    assert form.status_code == 200
    assert who in form.content.decode()

    done = staff.post(
        "/admin/credits/grant/add/",
        {"attribution_id": who, "amount": "25.5", "priority": "3", "effective_at": "2026-01-05 10:00:00"},
        follow=True,
    )

    assert done.status_code == 200
    grant = Grant.objects.get()
    assert (grant.amount, grant.priority, grant.ledger.attribution_id) == (Decimal("25.5"), 3, who)


def test_a_refused_grant_shows_the_reason_and_stores_nothing(staff):
    who = new_attribution_id()
    grant_create(attribution_id=who, amount="1", effective_at=T0)
    from credits.services import ledger_reset

    ledger_reset(attribution_id=who, effective_at=T0 + timedelta(days=1))

    response = staff.post(
        "/admin/credits/grant/add/",
        {"attribution_id": who, "amount": "5", "priority": "1", "effective_at": "2026-01-05 00:00"},
    )

    assert response.status_code == 200
    assert "before the ledger" in response.content.decode()
    assert Grant.objects.count() == 1


def test_void_action_asks_first_then_voids(staff):
    grant = grant_create(attribution_id=new_attribution_id(), amount="10", effective_at=T0)
    asked = staff.post("/admin/credits/grant/", {"action": "void", "_selected_action": [grant.pk]})
    assert asked.status_code == 200
    assert b"Void these grants?" in asked.content
    assert Grant.objects.get().voided_at is None

    staff.post("/admin/credits/grant/", {"action": "void", "_selected_action": [grant.pk], "confirm": "yes"})

    assert Grant.objects.get().voided_at is not None


def test_reset_action_with_a_time(staff):
    grant = grant_create(
        attribution_id=new_attribution_id(), amount="10", effective_at=T0, rollover_type="ORIGINAL_AMOUNT"
    )
    form = staff.post("/admin/credits/ledger/", {"action": "reset", "_selected_action": [grant.ledger_id]})
    assert b'name="effective_at"' in form.content

    staff.post(
        "/admin/credits/ledger/",
        {
            "action": "reset",
            "_selected_action": [grant.ledger_id],
            "apply": "1",
            "effective_at": "2026-01-06 00:00",
        },
    )

    reset = Reset.objects.get()
    assert reset.effective_at == T0 + timedelta(days=1)
    assert reset.created_by == "admin:finance"
    assert Grant.objects.filter(parent=grant).count() == 1


def test_history_view_and_read_only_pages(staff):
    who = new_attribution_id()
    grant = grant_create(attribution_id=who, amount="10", effective_at=T0)
    rated_usage(who, 3, T0 + timedelta(hours=1))

    history = staff.get(f"/admin/credits/ledger/{grant.ledger_id}/entries/")

    assert history.status_code == 200
    html = history.content.decode()
    assert "GRANT_USAGE" in html and "3.000000" in html
    assert staff.get(f"/admin/credits/grant/{grant.pk}/change/").status_code == 200
    assert staff.get("/admin/credits/balancesnapshot/").status_code == 200
    assert staff.get("/admin/credits/feature/").status_code == 200


def test_features_and_ledgers_are_added_through_the_services(staff):
    staff.post(
        "/admin/credits/feature/add/",
        {"key": "gpu", "name": "GPU", "meter_slug": "gpu-seconds", "metadata_filters": "{}"},
    )
    who = new_attribution_id()
    staff.post("/admin/credits/ledger/add/", {"attribution_id": who.upper().replace("TEAM", "team")})

    assert Feature.objects.get().meter_slug == "gpu-seconds"
    assert Ledger.objects.get().attribution_id == who
    bad = staff.post(
        "/admin/credits/feature/add/",
        {"key": "Bad Key", "name": "x", "meter_slug": "credits", "metadata_filters": "{}"},
    )
    assert bad.status_code == 200
    assert Feature.objects.count() == 1
