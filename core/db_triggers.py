"""Installing database triggers from migrations, for PostgreSQL and SQLite alike."""

from django.db import migrations


def vendor_sql(
    *, pg_up: str, pg_down: str, sqlite_up: list[str], sqlite_down: list[str]
) -> migrations.RunPython:
    """A reversible migration operation running the SQL written for the connection's vendor."""

    def run(schema_editor, *, up: bool) -> None:
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            # params=None: the SQL is sent as is, so PL/pgSQL's % placeholders are not read as ours.
            schema_editor.execute(pg_up if up else pg_down, None)
        elif vendor == "sqlite":
            for statement in sqlite_up if up else sqlite_down:
                schema_editor.execute(statement)

    def forwards(apps, schema_editor):
        run(schema_editor, up=True)

    def backwards(apps, schema_editor):
        run(schema_editor, up=False)

    return migrations.RunPython(forwards, backwards)
