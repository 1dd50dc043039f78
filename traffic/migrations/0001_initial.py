"""Traffic becomes its own app: the models move here from usage, their tables stay.

State only: the tables (`usage_traffic*`, `usage_exportersource`), their constraints, indexes
and the append-only triggers on `usage_trafficminute` (usage 0009) were created by usage 0008
and 0009 and are kept as they are (`db_table`), so no row moves and nothing is rebuilt.
usage 0011 removes the models from usage's state in the same plan.
"""

import core.fields
import django.db.models.deletion
import django.db.models.expressions
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('usage', '0010_schedule_collect_and_rate'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='TrafficAccount',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('account_uuid', models.UUIDField(unique=True)),
                        ('email', models.CharField(blank=True, max_length=254)),
                        ('attribution_id', models.CharField(db_index=True, max_length=64)),
                        ('package_name', models.CharField(blank=True, max_length=100)),
                        ('included_quota_bytes', models.BigIntegerField(blank=True, help_text='Empty: INITIAL_INCLUDED_QUOTA_BYTES.', null=True)),
                        ('price_per_byte', core.fields.RateField(blank=True, help_text='Credits per chargeable byte. Empty: PRICE_PER_BYTE.', null=True)),
                        ('region_multiplier', models.DecimalField(decimal_places=6, default=1, max_digits=12)),
                        ('line_multiplier', models.DecimalField(decimal_places=6, default=1, max_digits=12)),
                        ('pricing_rule_version', models.CharField(blank=True, help_text='Empty: SOURCE_REVISION.', max_length=100)),
                    ],
                    options={
                        'db_table': 'usage_trafficaccount',
                        'ordering': ['account_uuid'],
                    },
                ),
                migrations.CreateModel(
                    name='TrafficCounterState',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('node_id', models.CharField(max_length=200)),
                        ('account_uuid', models.UUIDField()),
                        ('source_id', models.CharField(max_length=64)),
                        ('last_uplink_total', models.BigIntegerField()),
                        ('last_downlink_total', models.BigIntegerField()),
                        ('last_seen_at', models.DateTimeField()),
                        ('open_minute', models.DateTimeField(blank=True, null=True)),
                        ('open_uplink_bytes', models.BigIntegerField(default=0)),
                        ('open_downlink_bytes', models.BigIntegerField(default=0)),
                        ('open_inbound_tags', models.CharField(blank=True, max_length=500)),
                        ('sealed_through', models.DateTimeField(blank=True, null=True)),
                        ('reset_count', models.IntegerField(default=0)),
                        ('source_revision', models.CharField(blank=True, max_length=100)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'usage_trafficcounterstate',
                    },
                ),
                migrations.CreateModel(
                    name='TrafficMinute',
                    fields=[
                        ('id', models.BigAutoField(primary_key=True, serialize=False)),
                        ('minute', models.DateTimeField()),
                        ('node_id', models.CharField(max_length=200)),
                        ('account_uuid', models.UUIDField()),
                        ('region', models.CharField(max_length=32)),
                        ('line', models.CharField(blank=True, max_length=64)),
                        ('attribution_id', models.CharField(max_length=64)),
                        ('source_id', models.CharField(max_length=64)),
                        ('uplink_bytes', models.BigIntegerField()),
                        ('downlink_bytes', models.BigIntegerField()),
                        ('total_bytes', models.BigIntegerField()),
                        ('included_bytes', models.BigIntegerField()),
                        ('chargeable_bytes', models.BigIntegerField()),
                        ('credits', core.fields.CreditsField()),
                        ('price_per_byte', core.fields.RateField()),
                        ('multiplier', models.DecimalField(decimal_places=12, max_digits=24)),
                        ('pricing_rule_version', models.CharField(blank=True, max_length=100)),
                        ('inbound_tags', models.CharField(blank=True, max_length=500)),
                        ('entry_key', models.CharField(max_length=255)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        'db_table': 'usage_trafficminute',
                        'ordering': ['-minute', 'node_id'],
                    },
                ),
                migrations.CreateModel(
                    name='TrafficSourceState',
                    fields=[
                        ('source_id', models.CharField(max_length=64, primary_key=True, serialize=False)),
                        ('last_completed_until', models.DateTimeField(blank=True, null=True)),
                        ('last_attempted_at', models.DateTimeField(blank=True, null=True)),
                        ('last_succeeded_at', models.DateTimeField(blank=True, null=True)),
                        ('last_error', models.TextField(blank=True)),
                        ('node_id', models.CharField(blank=True, help_text='Learned on the first successful window when the source expects no node id: later pages must match.', max_length=200)),
                        ('env', models.CharField(blank=True, help_text='Learned like node_id when the source expects no env.', max_length=64)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'usage_trafficsourcestate',
                        'ordering': ['source_id'],
                    },
                ),
                migrations.CreateModel(
                    name='ExporterSource',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                        ('source_id', models.CharField(max_length=64, unique=True)),
                        ('base_url', models.URLField(help_text='https://… of the exporter; TLS is always verified.', max_length=500)),
                        ('token_encrypted', models.TextField(blank=True, editable=False)),
                        ('expected_node_id', models.CharField(blank=True, help_text='Empty: any node id.', max_length=200)),
                        ('expected_env', models.CharField(blank=True, help_text='Empty: any env.', max_length=64)),
                        ('enabled', models.BooleanField(default=True)),
                        ('timeout_seconds', models.PositiveIntegerField(default=15)),
                        ('region', models.CharField(blank=True, help_text='Empty: DEFAULT_REGION.', max_length=32)),
                        ('line', models.CharField(blank=True, help_text="Line code of this source's minutes.", max_length=64)),
                        ('managed_by_settings', models.BooleanField(default=False, help_text='Follows EXPORTER_SOURCES_JSON / EXPORTER_BASE_URL until edited here.')),
                    ],
                    options={
                        'db_table': 'usage_exportersource',
                        'ordering': ['source_id'],
                        'constraints': [models.CheckConstraint(condition=models.Q(('timeout_seconds__gt', 0)), name='exportersource_timeout_positive')],
                    },
                ),
                migrations.CreateModel(
                    name='TrafficQuotaState',
                    fields=[
                        ('account', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='quota_state', serialize=False, to='traffic.trafficaccount')),
                        ('remaining_included_bytes', models.BigIntegerField()),
                        ('uplink_bytes', models.BigIntegerField(default=0)),
                        ('downlink_bytes', models.BigIntegerField(default=0)),
                        ('total_bytes', models.BigIntegerField(default=0)),
                        ('chargeable_bytes', models.BigIntegerField(default=0)),
                        ('credits', core.fields.CreditsField(default=0)),
                        ('last_rated_minute', models.DateTimeField(blank=True, null=True)),
                        ('period_started_at', models.DateTimeField()),
                        ('updated_at', models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        'db_table': 'usage_trafficquotastate',
                    },
                ),
                migrations.AddConstraint(
                    model_name='trafficaccount',
                    constraint=models.CheckConstraint(condition=models.Q(('included_quota_bytes__isnull', True), ('included_quota_bytes__gte', 0), _connector='OR'), name='trafficaccount_quota_not_negative'),
                ),
                migrations.AddConstraint(
                    model_name='trafficaccount',
                    constraint=models.CheckConstraint(condition=models.Q(('price_per_byte__isnull', True), ('price_per_byte__gte', 0), _connector='OR'), name='trafficaccount_price_not_negative'),
                ),
                migrations.AddIndex(
                    model_name='trafficcounterstate',
                    index=models.Index(condition=models.Q(('open_minute__isnull', False)), fields=['source_id', 'open_minute'], name='trafficcounter_open'),
                ),
                migrations.AddConstraint(
                    model_name='trafficcounterstate',
                    constraint=models.UniqueConstraint(fields=('node_id', 'account_uuid'), name='trafficcounter_unique_node_account'),
                ),
                migrations.AddConstraint(
                    model_name='trafficcounterstate',
                    constraint=models.CheckConstraint(condition=models.Q(('last_downlink_total__gte', 0), ('last_uplink_total__gte', 0)), name='trafficcounter_totals_not_negative'),
                ),
                migrations.AddIndex(
                    model_name='trafficminute',
                    index=models.Index(fields=['account_uuid', 'minute'], name='trafficminute_account_minute'),
                ),
                migrations.AddIndex(
                    model_name='trafficminute',
                    index=models.Index(fields=['attribution_id', 'minute'], name='trafficminute_attr_minute'),
                ),
                migrations.AddConstraint(
                    model_name='trafficminute',
                    constraint=models.UniqueConstraint(fields=('minute', 'node_id', 'account_uuid', 'region', 'line'), name='trafficminute_unique_bucket'),
                ),
                migrations.AddConstraint(
                    model_name='trafficminute',
                    constraint=models.CheckConstraint(condition=models.Q(('downlink_bytes__gte', 0), ('included_bytes__gte', 0), ('uplink_bytes__gte', 0), ('total_bytes', django.db.models.expressions.CombinedExpression(models.F('uplink_bytes'), '+', models.F('downlink_bytes'))), ('chargeable_bytes', django.db.models.expressions.CombinedExpression(models.F('total_bytes'), '-', models.F('included_bytes'))), ('chargeable_bytes__gte', 0)), name='trafficminute_bytes_consistent'),
                ),
                migrations.AddConstraint(
                    model_name='trafficquotastate',
                    constraint=models.CheckConstraint(condition=models.Q(('remaining_included_bytes__gte', 0)), name='trafficquota_remaining_not_negative'),
                ),
            ],
        ),
    ]
