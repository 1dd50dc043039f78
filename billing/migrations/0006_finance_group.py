"""The "Finance" group (billing/finance_group.py); billing's AppConfig sets it again after every
migrate, when the permissions of every app exist."""

from django.db import migrations

from billing.finance_group import set_finance_permissions


def create_finance_group(apps, schema_editor):
    set_finance_permissions(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("billing", "0005_rename_reset_usage_to_close_cycles"),
    ]

    operations = [migrations.RunPython(create_finance_group, migrations.RunPython.noop)]
