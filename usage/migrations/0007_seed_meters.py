from datetime import UTC, datetime
from decimal import Decimal

from django.db import migrations

# slug, unit, description, credits per unit
METERS = [
    ("container-seconds", "seconds", "Container runtime", Decimal("0.0002")),
    ("node-seconds", "seconds", "Node runtime", Decimal("0.001")),
    ("weavenet-seconds", "seconds", "Weave Net runtime", Decimal("0.0001")),
    ("samples", "samples", "Metric samples ingested", Decimal("0.00001")),
    ("traffic-bytes", "bytes", "Network traffic", Decimal("0.000000001")),
    ("workspace-seconds", "seconds", "Workspace runtime reported as events", Decimal("0.0025")),
]
SINCE = datetime(2020, 1, 1, tzinfo=UTC)


def seed(apps, schema_editor):
    Meter = apps.get_model("usage", "Meter")
    MeterRate = apps.get_model("usage", "MeterRate")
    for slug, unit, description, rate in METERS:
        meter, _ = Meter.objects.get_or_create(slug=slug, defaults={"unit": unit, "description": description})
        MeterRate.objects.get_or_create(meter=meter, effective_from=SINCE, defaults={"credits_per_unit": rate})


class Migration(migrations.Migration):
    dependencies = [("usage", "0006_meters")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
