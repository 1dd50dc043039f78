"""Creating the scratch PostgreSQL databases the benchmarks and `make fuzz` use (tools only)."""

from urllib.parse import urlsplit


def ensure_database(url: str, *, recreate: bool = False) -> bool:
    """Create the database `url` names, on its server, when it is missing (with `recreate`,
    drop it first). True when it was created."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(parts._replace(path="/postgres").geturl(), autocommit=True) as conn:
        if recreate:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        elif conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(f'CREATE DATABASE "{name}"')
    return True
