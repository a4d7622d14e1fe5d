"""Reading the audit log."""

from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from itertools import takewhile

from django.db import connection

from audit.chain import GENESIS_HASH, ROW_COLUMNS, ChainBroken, verify_rows
from audit.models import AuditChainHead, AuditEvent

BATCH_SIZE = 10_000

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


def _binary_batches(select: str, batch_size: int):
    """PostgreSQL with psycopg 3: return fetch(after_seq) -> list of rows, in binary format.

    Verifying parses every column of every event, and binary results cost half as much to parse
    as text (no parsing of integers and timestamps). Django's cursors bind parameters client-side,
    which rules binary results out, so this is a plain psycopg.Cursor on Django's connection: the
    same transaction, but not in Django's query log. None with psycopg2.
    """
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        return None
    import psycopg

    connection.ensure_connection()
    raw = connection.connection

    def fetch(after_seq: int) -> list[tuple]:
        with psycopg.Cursor(raw) as cursor:
            cursor.execute(select, [after_seq, batch_size], binary=True)
            return cursor.fetchall()

    return fetch


def iter_chain_rows(*, after_seq: int = 0, batch_size: int = BATCH_SIZE):
    """Yield every event as a tuple in ROW_COLUMNS order, by seq, a batch at a time.

    ``created_at`` comes as a naive datetime in UTC (see audit.chain.format_time). Keyset
    pagination on the primary key keeps memory flat however long the log is and holds no
    transaction or server-side cursor open between batches.
    """
    select = _select(connection.vendor)
    fetch = _binary_batches(select, batch_size) if connection.vendor == "postgresql" else None
    if fetch is not None:
        # While the caller checks one batch, a thread waits for the database to produce the next
        # one (psycopg releases the GIL while it waits), so the server's and the client's work
        # overlap: about a quarter faster. psycopg serialises the use of a connection, so a
        # caller that queries between rows only waits for the fetch in flight; closing this
        # generator leaves the pool, which waits for that fetch.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-verify") as pool:
            pending = pool.submit(fetch, after_seq)
            while rows := pending.result():
                pending = pool.submit(fetch, rows[-1][0])
                yield from rows
        return
    last = after_seq
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


def verify_chain(*, batch_size: int = BATCH_SIZE) -> ChainStatus:
    """Recompute the whole chain from the first event (RULES.md A2).

    The chain head is read first and the walk stops there: events appended while a long check
    runs belong to the next check, and are not mistaken for a tampered tail.
    """
    stored = AuditChainHead.objects.filter(pk=1).values_list("seq", "hash").first()
    stored_seq, stored_hash = stored if stored else (0, GENESIS_HASH)
    # closing(): a walk cut short by a broken link stops its prefetch before the next query.
    with closing(iter_chain_rows(batch_size=batch_size)) as rows:
        try:
            count, head_hash = verify_rows(takewhile(lambda row: row[0] <= stored_seq, rows))
        except ChainBroken as broken:
            return ChainStatus(False, broken.seq - 1, "", broken.seq, broken.problem)
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
