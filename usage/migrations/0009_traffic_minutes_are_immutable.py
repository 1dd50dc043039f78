"""Traffic minutes are facts: the database refuses to change or delete one."""

from django.db import migrations

from core.db_triggers import vendor_sql

PG_UP = """
CREATE OR REPLACE FUNCTION usage_traffic_minute_guard() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'traffic minute % is a fact and cannot be changed or deleted', OLD.id
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER usage_traffic_minute_guard
    BEFORE UPDATE OR DELETE ON usage_trafficminute
    FOR EACH ROW EXECUTE FUNCTION usage_traffic_minute_guard();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS usage_traffic_minute_guard ON usage_trafficminute;
DROP FUNCTION IF EXISTS usage_traffic_minute_guard();
"""
SQLITE_UP = [
    """CREATE TRIGGER usage_traffic_minute_no_update BEFORE UPDATE ON usage_trafficminute
       BEGIN SELECT RAISE(ABORT, 'traffic minute is a fact and cannot be changed'); END;""",
    """CREATE TRIGGER usage_traffic_minute_no_delete BEFORE DELETE ON usage_trafficminute
       BEGIN SELECT RAISE(ABORT, 'traffic minute is a fact and cannot be deleted'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS usage_traffic_minute_no_update;",
    "DROP TRIGGER IF EXISTS usage_traffic_minute_no_delete;",
]



class Migration(migrations.Migration):
    dependencies = [("usage", "0008_traffic")]

    operations = [vendor_sql(pg_up=PG_UP, pg_down=PG_DOWN, sqlite_up=SQLITE_UP, sqlite_down=SQLITE_DOWN)]
