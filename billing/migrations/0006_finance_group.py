"""The "Finance" group: what finance staff may see and do in the admin (docs/operations.md,
"Finance staff"). Idempotent: running it again sets the same permissions, no more, no fewer;
a later migration may call `set_finance_permissions` again when models are added.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

FINANCE_GROUP = "Finance"
# Everything of ours and of Stripe's and the job schedules, read-only.
VIEW_APPS = ["core", "audit", "usage", "traffic", "credits", "billing", "djstripe", "django_celery_beat"]
# Where finance acts: grants (create, void), ledgers (create, reset), credit notes (usage
# entries of kind creditnote, added to cost centers), cost centers (limit, strategy), disputes
# (resolve), teams and their members. Never delete; nothing of auth; no schedule editing.
ACT = {
    "credits": ["add_grant", "change_grant", "add_ledger", "change_ledger", "add_reset"],
    "usage": ["change_costcenter", "add_usageentry"],
    "billing": ["change_disputeblock", "add_team", "change_team", "add_membership", "change_membership"],
}


def set_finance_permissions(apps, schema_editor):
    # On a fresh database permissions are created after the last migration: make them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=FINANCE_GROUP)
    wanted = list(
        Permission.objects.filter(content_type__app_label__in=VIEW_APPS, codename__startswith="view_")
    )
    for app_label, codenames in ACT.items():
        wanted += list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
    group.permissions.set(wanted)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("billing", "0005_rename_reset_usage_to_close_cycles"),
        ("core", "0002_jobrun"),
        ("audit", "0002_audit_events_are_append_only"),
        ("usage", "0011_traffic_moved_to_its_app"),
        ("traffic", "0003_rename_collect_and_rate_job"),
        ("credits", "0003_schedule_snapshot"),
        ("djstripe", "0003_2_11"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(set_finance_permissions, migrations.RunPython.noop)]
