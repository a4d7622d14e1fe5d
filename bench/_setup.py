"""What the benchmark scripts share: Django set-up on a dedicated, freshly created database.

The benchmarks destroy their database before each run (the audit table refuses DELETE and
TRUNCATE, so dropping and recreating it is the honest way to start from nothing). To keep a slip
of DATABASE_URL from wiping real data, they refuse any database whose name has no "bench" in it.
"""

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/stipula_bench"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def fail(message: str) -> None:
    print(f"{Path(sys.argv[0]).name}: {message}", file=sys.stderr)
    raise SystemExit(2)


def database_config(url: str) -> dict:
    import environ

    return environ.Env.db_url_config(url)


def vendor_of(url: str) -> str:
    engine = database_config(url)["ENGINE"]
    if "postgresql" in engine:
        return "postgresql"
    if "sqlite3" in engine:
        return "sqlite"
    return engine


def check_bench_database(url: str) -> dict:
    config = database_config(url)
    if "bench" not in Path(str(config["NAME"])).name:
        fail(
            f"refusing to use database {config['NAME']!r}: the benchmark drops and recreates its "
            "database, so its name must contain 'bench' (e.g. "
            f"DATABASE_URL={DEFAULT_POSTGRES_URL})"
        )
    return config


def recreate_database(url: str) -> None:
    """Drop and recreate the benchmark database, before Django opens any connection to it."""
    config = check_bench_database(url)
    if vendor_of(url) == "postgresql":
        import psycopg
        from psycopg import sql

        admin = psycopg.connect(
            dbname="postgres",
            host=config.get("HOST") or None,
            port=config.get("PORT") or None,
            user=config.get("USER") or None,
            password=config.get("PASSWORD") or None,
            autocommit=True,
        )
        with admin:
            name = sql.Identifier(config["NAME"])
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
            admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    else:
        path = Path(config["NAME"])
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stipula.settings")
    # Notifications are composed and "sent" as in production, but kept in memory, not printed.
    os.environ.setdefault("EMAIL_URL", "memorymail://")
    import django

    django.setup()


def fresh_database(url: str) -> None:
    """Recreate the database, set up Django on it and apply every migration."""
    recreate_database(url)
    setup_django(url)
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    print(
        f"database: {describe(url)} (recreated, migrated in {time.perf_counter() - started:.1f} s)"
    )


def describe(url: str) -> str:
    config = database_config(url)
    if vendor_of(url) == "postgresql":
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
        return f"PostgreSQL {version} {config.get('HOST')}:{config.get('PORT')}/{config['NAME']}"
    return f"SQLite {config['NAME']}"


def machine() -> str:
    import platform

    return f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
