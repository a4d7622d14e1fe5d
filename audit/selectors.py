"""Reading the audit log."""

from dataclasses import dataclass

from django.db import connection

from audit.chain import GENESIS_HASH, ROW_COLUMNS, ChainBroken, verify_rows
from audit.models import AuditChainHead, AuditEvent

_SELECT = "SELECT {cols} FROM {table} WHERE seq > %s ORDER BY seq LIMIT %s".format(
    cols=", ".join(ROW_COLUMNS), table=AuditEvent._meta.db_table
)


def iter_chain_rows(*, after_seq: int = 0, batch_size: int = 20_000):
    """Yield every event as a tuple in ROW_COLUMNS order, by seq, a batch at a time.

    Keyset pagination on the primary key keeps memory flat however long the log is and holds no
    transaction or server-side cursor open between batches.
    """
    last = after_seq
    with connection.cursor() as cursor:
        while True:
            cursor.execute(_SELECT, [last, batch_size])
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
