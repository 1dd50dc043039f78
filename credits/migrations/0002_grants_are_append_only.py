"""A grant's terms are written once, its void too, and grants are never deleted: the database
says so. `voided_at` may go from empty to a time once; clearing or moving it is refused."""

from django.db import migrations

from core.db_triggers import vendor_sql

TERMS = [
    "ledger_id",
    "feature_id",
    "amount",
    "priority",
    "effective_at",
    "expiration_count",
    "expiration_unit",
    "expires_at",
    "rollover_type",
    "rollover_max_amount",
    "rollover_min_amount",
    "parent_id",
    "reset_id",
]
TERMS_CHANGED = " OR ".join(f"NEW.{column} IS DISTINCT FROM OLD.{column}" for column in TERMS)

PG_UP = f"""
CREATE OR REPLACE FUNCTION credits_grant_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'grant % is part of the ledger history and cannot be deleted', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF OLD.voided_at IS NOT NULL AND NEW.voided_at IS DISTINCT FROM OLD.voided_at THEN
        RAISE EXCEPTION 'grant % is voided; a void cannot be cleared or changed', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    IF {TERMS_CHANGED} THEN
        RAISE EXCEPTION 'the terms of grant % cannot be changed; void it and grant again', OLD.id
            USING ERRCODE = 'restrict_violation';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER credits_grant_append_only
    BEFORE UPDATE OR DELETE ON credits_grant
    FOR EACH ROW EXECUTE FUNCTION credits_grant_append_only();
"""
PG_DOWN = """
DROP TRIGGER IF EXISTS credits_grant_append_only ON credits_grant;
DROP FUNCTION IF EXISTS credits_grant_append_only();
"""
SQLITE_TERMS_CHANGED = " OR ".join(f"NEW.{column} IS NOT OLD.{column}" for column in TERMS)
SQLITE_UP = [
    """CREATE TRIGGER credits_grant_void_stays BEFORE UPDATE ON credits_grant
       WHEN OLD.voided_at IS NOT NULL AND NEW.voided_at IS NOT OLD.voided_at
       BEGIN SELECT RAISE(ABORT, 'a voided grant stays voided'); END;""",
    f"""CREATE TRIGGER credits_grant_terms_fixed BEFORE UPDATE ON credits_grant
       WHEN {SQLITE_TERMS_CHANGED}
       BEGIN SELECT RAISE(ABORT, 'the terms of a grant cannot be changed'); END;""",
    """CREATE TRIGGER credits_grant_no_delete BEFORE DELETE ON credits_grant
       BEGIN SELECT RAISE(ABORT, 'a grant cannot be deleted'); END;""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS credits_grant_void_stays;",
    "DROP TRIGGER IF EXISTS credits_grant_terms_fixed;",
    "DROP TRIGGER IF EXISTS credits_grant_no_delete;",
]



class Migration(migrations.Migration):
    dependencies = [("credits", "0001_initial")]

    operations = [vendor_sql(pg_up=PG_UP, pg_down=PG_DOWN, sqlite_up=SQLITE_UP, sqlite_down=SQLITE_DOWN)]
