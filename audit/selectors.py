"""Reading the audit log."""

from dataclasses import dataclass

from django.db import connection

from audit.chain import GENESIS_HASH, ROW_COLUMNS, ChainBroken, verify_rows
from audit.models import AuditChainHead, AuditEvent

_SELECT = "SELECT {cols} FROM {table} WHERE seq > %s ORDER BY seq LIMIT %s"
_TABLE = AuditEvent._meta.db_table
# PostgreSQL hands created_at back as a naive datetime in UTC, which format_time() turns into
# text without a time-zone conversion; SQLite stores naive UTC already.
_PG_COLUMNS = ", ".join(
    "created_at AT TIME ZONE 'UTC'" if name == "created_at" else name for name in ROW_COLUMNS
)


def _select(vendor: str) -> str:
    cols = _PG_COLUMNS if vendor == "postgresql" else ", ".join(ROW_COLUMNS)
    return _SELECT.format(cols=cols, table=_TABLE)


def _binary_pg_cursor():
    """A psycopg 3 cursor on Django's connection that fetches results in binary format.

    Verifying parses every column of every event, and binary results halve that cost (no text
    parsing of integers and timestamps). Django's own cursors bind parameters client-side, which
    rules binary results out, so this one is a plain psycopg.Cursor on the same connection (same
    transaction), bypassing Django's query logging. None for psycopg2.
    """
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return None
    import psycopg

    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def iter_chain_rows(*, after_seq: int = 0, batch_size: int = 20_000):
    """Yield every event as a tuple in ROW_COLUMNS order, by seq, a batch at a time.

    ``created_at`` comes as a naive datetime in UTC (see audit.chain.format_time). Keyset
    pagination on the primary key keeps memory flat however long the log is and holds no
    transaction or server-side cursor open between batches.
    """
    select = _select(connection.vendor)
    last = after_seq
    raw = _binary_pg_cursor() if connection.vendor == "postgresql" else None
    if raw is not None:
        with raw:
            while True:
                raw.execute(select, [last, batch_size], binary=True)
                rows = raw.fetchall()
                if not rows:
                    return
                yield from rows
                last = rows[-1][0]
    with connection.cursor() as cursor:
        while True:
            cursor.execute(select, [last, batch_size])
            rows = cursor.fetchall()
            if not rows:
                return
            yield from rows
            last = rows[-1][0]


@dataclass(frozen=True)
class ChainStatus:
    ok: bool
    count: int
    head_hash: str
    first_bad_seq: int | None = None
    problem: str = ""


def verify_chain(*, batch_size: int = 20_000) -> ChainStatus:
    """Recompute the whole chain from the first event (RULES.md A2)."""
    try:
        count, head_hash = verify_rows(iter_chain_rows(batch_size=batch_size))
    except ChainBroken as broken:
        return ChainStatus(False, broken.seq - 1, "", broken.seq, broken.problem)
    stored = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    stored_seq, stored_hash = stored if stored else (0, GENESIS_HASH)
    if (stored_seq, stored_hash) != (count, head_hash):
        # Events were removed from the end: the chain that is left is consistent but short.
        return ChainStatus(
            False,
            count,
            head_hash,
            count + 1,
            f"the log ends at event {count} but the chain head records event {stored_seq} "
            f"with hash {stored_hash}: events at the end are missing",
        )
    return ChainStatus(True, count, head_hash)
