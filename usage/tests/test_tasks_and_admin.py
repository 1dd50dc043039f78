from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.models import JobRun
from usage.models import UsageEntry
from usage.tests.factories import UsageEntryFactory, WorkspaceInstanceFactory, new_attribution_id

pytestmark = pytest.mark.django_db


def test_beat_schedules_are_registered_by_migrations():
    import importlib

    from django.apps import apps
    from django_celery_beat.models import PeriodicTask

    # Transactional tests flush migration data, so run the data migrations again (they
    # are idempotent) and check what they registered.
    for module in (
        "usage.migrations.0004_schedule_usage_rate",
        "billing.migrations.0002_schedule_reset_usage",
        "billing.migrations.0005_rename_reset_usage_to_close_cycles",
    ):
        importlib.import_module(module).forwards(apps, None)
    tasks = {t.name: t for t in PeriodicTask.objects.all()}
    assert tasks["usage.rate"].interval.every == 1
    assert tasks["usage.rate"].interval.period == "minutes"
    assert tasks["billing.close_cycles"].interval.every == 15


def test_usage_rate_task_runs_under_its_lock_and_records_the_run(redis):
    from usage.tasks import usage_rate

    WorkspaceInstanceFactory(instance_id="t-1", started_at=timezone.now() - timedelta(minutes=6))
    result = usage_rate.delay().get()
    assert result["status"] == "ok"
    assert result["workspaces"]["created"] == 1
    run = JobRun.objects.get(job="usage.rate")
    assert run.outcome == "ok"
    assert UsageEntry.objects.get(object_id="t-1").draft is True


def test_a_second_copy_skips(redis):
    from core.locks import job_lock
    from usage.tasks import usage_rate

    with job_lock("usage.rate"):
        result = usage_rate.delay().get()
    assert result["status"] == "skipped"
    assert JobRun.objects.get(job="usage.rate").outcome == "skipped"


def test_admin_pages_for_finance_staff(client, staff_user):
    who = new_attribution_id()
    UsageEntryFactory(attribution_id=who, credits=Decimal("12.5"))
    from usage.services import cost_center_get_or_create

    cost_center = cost_center_get_or_create(attribution_id=who)
    client.force_login(staff_user)
    listing = client.get("/admin/usage/costcenter/")
    assert listing.status_code == 200
    assert "12.500000" in listing.content.decode()
    assert client.get(f"/admin/usage/costcenter/{cost_center.pk}/change/").status_code == 200
    assert client.get("/admin/usage/usageentry/?kind__exact=workspace&draft__exact=0").status_code == 200
    assert client.get("/admin/usage/workspaceclass/").status_code == 200
    assert client.get("/admin/usage/workspaceinstance/").status_code == 200


def test_admin_credit_note_action(client, staff_user):
    from usage.selectors import usage_balance
    from usage.services import cost_center_get_or_create

    who = new_attribution_id()
    cost_center = cost_center_get_or_create(attribution_id=who)
    client.force_login(staff_user)
    form = client.post(
        "/admin/usage/costcenter/", {"action": "add_credit_note", "_selected_action": [cost_center.pk]}
    )
    assert form.status_code == 200
    assert b'name="credits"' in form.content
    done = client.post(
        "/admin/usage/costcenter/",
        {
            "action": "add_credit_note",
            "_selected_action": [cost_center.pk],
            "apply": "1",
            "credits": "4.25",
            "description": "Goodwill",
        },
        follow=True,
    )
    assert done.status_code == 200
    assert usage_balance(attribution_id=who) == Decimal("-4.25")


def test_admin_changes_limits_through_the_service(client, staff_user):
    from usage.services import cost_center_get_or_create

    cost_center = cost_center_get_or_create(attribution_id=new_attribution_id())
    client.force_login(staff_user)
    response = client.post(
        f"/admin/usage/costcenter/{cost_center.pk}/change/",
        {
            "spending_limit": "77",
            "billing_strategy": "other",
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
        follow=True,
    )
    assert response.status_code == 200
    cost_center.refresh_from_db()
    assert cost_center.spending_limit == Decimal("77")
    assert cost_center.versions.filter(changed_by__startswith="admin:").exists()


def test_admin_exports_usage_as_csv(client, staff_user):
    who = new_attribution_id()
    entries = [UsageEntryFactory(attribution_id=who, credits=Decimal(n)) for n in (1, 2)]
    client.force_login(staff_user)
    response = client.post(
        "/admin/usage/usageentry/",
        {"action": "export_csv", "_selected_action": [str(e.pk) for e in entries]},
    )
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert lines[0].startswith("id,attribution_id,kind,credits")
    assert sorted(line.split(",")[3] for line in lines[1:]) == ["1.000000", "2.000000"]


def test_meter_admin_pages(client, staff_user):
    from usage.models import Meter

    client.force_login(staff_user)
    samples = Meter.objects.get(slug="samples")
    assert client.get("/admin/usage/meter/").status_code == 200
    page = client.get(f"/admin/usage/meter/{samples.pk}/change/")
    assert page.status_code == 200
    assert b'value="0.00001"' in page.content  # the seeded rate, editable inline, without trailing zeros
    assert client.get("/admin/usage/meterevent/").status_code == 200
    assert client.get("/admin/usage/meterrollup/").status_code == 200
