"""Database triggers that make a table append-only (RULES.md A3).

PostgreSQL: row triggers refuse UPDATE and DELETE, a statement trigger refuses TRUNCATE (which skips
delete triggers). SQLite: BEFORE UPDATE and BEFORE DELETE triggers (SQLite has no TRUNCATE; its
truncate optimisation is disabled on tables with triggers). A superuser can still disable
triggers, so detection rests on the hash chain and the checkpoints.
"""

# Tables whose rows, once written, are never changed or deleted. Their migrations install the
# triggers with protect_operation(); test suites use this list to empty them between tests.
APPEND_ONLY_TABLES = [
    "audit_auditevent",
    "agreements_agreementversion",
    "agreements_comment",
    "templates_docx_templateversion",
    "signing_signature",
    "signing_signaturevalidation",
]

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION stipula_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def protect_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [
            PG_FUNCTION,
            f'CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION stipula_refuse_change();",
            f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION stipula_refuse_change();",
        ]
    if vendor == "sqlite":
        return [
            f'CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: UPDATE refused'); END;",
            f'CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: DELETE refused'); END;",
        ]
    raise NotImplementedError(f"no append-only triggers for database vendor {vendor}")


def unprotect_sql(vendor: str, table: str) -> list[str]:
    if vendor == "postgresql":
        return [
            f'DROP TRIGGER IF EXISTS {table}_no_update_delete ON "{table}";',
            f'DROP TRIGGER IF EXISTS {table}_no_truncate ON "{table}";',
        ]
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update;",
        f"DROP TRIGGER IF EXISTS {table}_no_delete;",
    ]


def protect_operation(table: str):
    """A migration operation that installs the triggers on ``table`` for the current vendor."""
    from django.db import migrations

    def forward(apps, schema_editor):
        for statement in protect_sql(schema_editor.connection.vendor, table):
            schema_editor.execute(statement, params=None)

    def backward(apps, schema_editor):
        for statement in unprotect_sql(schema_editor.connection.vendor, table):
            schema_editor.execute(statement, params=None)

    return migrations.RunPython(forward, backward, elidable=False)
