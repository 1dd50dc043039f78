"""The traffic models now belong to the traffic app (traffic 0001): remove them from usage's
state only. Their tables, rows and triggers stay where they are."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0010_schedule_collect_and_rate"),
        ("traffic", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="TrafficQuotaState"),
                migrations.DeleteModel(name="TrafficMinute"),
                migrations.DeleteModel(name="TrafficCounterState"),
                migrations.DeleteModel(name="TrafficSourceState"),
                migrations.DeleteModel(name="ExporterSource"),
                migrations.DeleteModel(name="TrafficAccount"),
            ],
        )
    ]
