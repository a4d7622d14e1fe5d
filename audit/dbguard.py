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
    "registry_registrationannulment",
    "registry_registrationchange",
    "registry_dailyregister",
    "audit_checkpoint",
    "audit_audittreetile",
]

# Tables whose rows are never deleted and whose recorded values never change, except the columns
# named here (RULES.md P5: a registration's classification and assignment may change, with
# history). Same triggers as above for DELETE and TRUNCATE; an UPDATE that changes any other
# column is refused.
MUTABLE_COLUMNS = {
    "registry_registration": ("classification", "assigned_to", "public_document"),
}

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION stipula_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


PG_GUARD_FUNCTION = """
CREATE OR REPLACE FUNCTION stipula_refuse_recorded_change() RETURNS trigger AS $$
DECLARE
    new_values jsonb := to_jsonb(NEW);
    old_values jsonb := to_jsonb(OLD);
    allowed text;
BEGIN
    FOREACH allowed IN ARRAY TG_ARGV LOOP
        new_values := new_values - allowed;
        old_values := old_values - allowed;
    END LOOP;
    IF new_values IS DISTINCT FROM old_values THEN
        RAISE EXCEPTION 'table %: recorded values never change: UPDATE refused', TG_TABLE_NAME
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""


def _guard_sql(vendor: str, table: str, allowed: tuple[str, ...], columns: list[str]) -> list[str]:
    if vendor == "postgresql":
        arguments = ", ".join(f"'{name}'" for name in allowed)
        return [
            PG_FUNCTION,
            PG_GUARD_FUNCTION,
            f'CREATE TRIGGER {table}_no_update BEFORE UPDATE ON "{table}" '
            f"FOR EACH ROW EXECUTE FUNCTION stipula_refuse_recorded_change({arguments});",
            f'CREATE TRIGGER {table}_no_delete BEFORE DELETE ON "{table}" '
            "FOR EACH ROW EXECUTE FUNCTION stipula_refuse_change();",
            f'CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON "{table}" '
            "FOR EACH STATEMENT EXECUTE FUNCTION stipula_refuse_change();",
        ]
    if vendor == "sqlite":
        changed = " OR ".join(
            f'NEW."{name}" IS NOT OLD."{name}"' for name in columns if name not in allowed
        )
        return [
            f'CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON "{table}" '
            f"WHEN {changed} BEGIN SELECT RAISE(ABORT, "
            f"'table {table}: recorded values never change: UPDATE refused'); END;",
            f'CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON "{table}" '
            f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only: DELETE refused'); END;",
        ]
    raise NotImplementedError(f"no triggers for database vendor {vendor}")


def _columns(table: str) -> list[str]:
    from django.apps import apps

    for model in apps.get_models():
        if model._meta.db_table == table:
            return [field.column for field in model._meta.concrete_fields]
    raise LookupError(table)


def protect_sql(vendor: str, table: str) -> list[str]:
    if table in MUTABLE_COLUMNS:
        return _guard_sql(vendor, table, MUTABLE_COLUMNS[table], _columns(table))
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
            f'DROP TRIGGER IF EXISTS {table}_no_update ON "{table}";',
            f'DROP TRIGGER IF EXISTS {table}_no_delete ON "{table}";',
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
