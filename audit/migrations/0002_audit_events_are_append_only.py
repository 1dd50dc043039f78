"""An audit event is written once and never changed or deleted: the database refuses both."""

from django.db import migrations

from core.db_triggers import vendor_sql

PG_UP = """
CREATE OR REPLACE FUNCTION audit_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit event % is part of the audit trail and cannot be %', OLD.id, lower(TG_OP)
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_auditevent_append_only
    BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS audit_auditevent_append_only ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_append_only();
"""
SQLITE_UP = [
    """CREATE TRIGGER audit_auditevent_no_update BEFORE UPDATE ON audit_auditevent
       BEGIN SELECT RAISE(ABORT, 'an audit event cannot be changed'); END;""",
    """CREATE TRIGGER audit_auditevent_no_delete BEFORE DELETE ON audit_auditevent
       BEGIN SELECT RAISE(ABORT, 'an audit event cannot be deleted'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS audit_auditevent_no_update;",
    "DROP TRIGGER IF EXISTS audit_auditevent_no_delete;",
]


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [vendor_sql(pg_up=PG_UP, pg_down=PG_DOWN, sqlite_up=SQLITE_UP, sqlite_down=SQLITE_DOWN)]
