"""Helpers for test suites that must empty append-only tables between tests."""

from django.db import connection

from audit.dbguard import APPEND_ONLY_TABLES, MUTABLE_COLUMNS, protect_sql, unprotect_sql

PROTECTED_TABLES = [*APPEND_ONLY_TABLES, *MUTABLE_COLUMNS]


def triggers_present(table: str) -> bool:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal",
                [table],
            )
        else:
            cursor.execute(
                "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s",
                [table],
            )
        return cursor.fetchone()[0] > 0


def ensure_triggers() -> None:
    for table in PROTECTED_TABLES:
        if not triggers_present(table):
            with connection.cursor() as cursor:
                for statement in protect_sql(connection.vendor, table):
                    cursor.execute(statement)


def drop_triggers() -> None:
    with connection.cursor() as cursor:
        for table in PROTECTED_TABLES:
            for statement in unprotect_sql(connection.vendor, table):
                cursor.execute(statement)
