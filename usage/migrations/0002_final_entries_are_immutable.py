"""A final (non-draft) usage entry can be neither changed nor deleted: the database says so."""

from django.db import migrations

from core.db_triggers import vendor_sql

PG_UP = """
CREATE OR REPLACE FUNCTION usage_entry_final_guard() RETURNS trigger AS $$
BEGIN
    IF OLD.draft = false THEN
        RAISE EXCEPTION 'usage entry % is final and cannot be changed or deleted', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER usage_entry_final_guard
    BEFORE UPDATE OR DELETE ON usage_usageentry
    FOR EACH ROW EXECUTE FUNCTION usage_entry_final_guard();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS usage_entry_final_guard ON usage_usageentry;
DROP FUNCTION IF EXISTS usage_entry_final_guard();
"""
SQLITE_UP = [
    """CREATE TRIGGER usage_entry_final_no_update BEFORE UPDATE ON usage_usageentry
       WHEN OLD.draft = 0 BEGIN SELECT RAISE(ABORT, 'usage entry is final and cannot be changed'); END;""",
    """CREATE TRIGGER usage_entry_final_no_delete BEFORE DELETE ON usage_usageentry
       WHEN OLD.draft = 0 BEGIN SELECT RAISE(ABORT, 'usage entry is final and cannot be deleted'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS usage_entry_final_no_update;",
    "DROP TRIGGER IF EXISTS usage_entry_final_no_delete;",
]



class Migration(migrations.Migration):
    dependencies = [("usage", "0001_initial")]

    operations = [vendor_sql(pg_up=PG_UP, pg_down=PG_DOWN, sqlite_up=SQLITE_UP, sqlite_down=SQLITE_DOWN)]
