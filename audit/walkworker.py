"""The second process of a full verification (audit.fullcheck): walks a range of the log.

``python -m audit.walkworker`` reads one JSON object on standard input: ``conninfo`` (psycopg
connection keywords), ``select`` (the query of audit.selectors: events after %s, by seq, LIMIT
%s), ``after`` and ``upto`` (the range), ``start_hash`` (the stored hash of event ``after``),
``stack`` (the tree's state at size ``after``, hex) and ``expected`` (checkpoint sizes, roots,
chain heads and labels). It writes one JSON object on standard output: the count, head hash and
final tree state, or the first broken event or checkpoint. Django-free: psycopg and the
standard library, with audit.logcheck doing the walk as everywhere else.
"""

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from itertools import takewhile

from audit.logcheck import Expected, LogBroken, RootMismatch, walk
from audit.merkle import TreeBuilder

BATCH_SIZE = 10_000


def _rows(connection, select: str, after: int):
    import psycopg

    def fetch(last: int) -> list[tuple]:
        with psycopg.Cursor(connection) as cursor:
            cursor.execute(select, [last, BATCH_SIZE], binary=True)
            return cursor.fetchall()

    # As audit.selectors.iter_chain_rows: the next batch is fetched while this one is checked.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(fetch, after)
        while rows := pending.result():
            pending = pool.submit(fetch, rows[-1][0])
            yield from rows


def run(task: dict) -> dict:
    import psycopg

    builder = TreeBuilder()
    builder.stack = [bytes.fromhex(node) for node in task["stack"]]
    builder.size = after = task["after"]
    upto = task["upto"]
    expected = [
        Expected(item["size"], bytes.fromhex(item["root"]), item["head_hash"], item["label"])
        for item in task["expected"]
    ]
    with psycopg.connect(**task["conninfo"]) as connection:
        rows = _rows(connection, task["select"], after)
        try:
            count, head_hash = walk(
                takewhile(lambda row: row[0] <= upto, rows),
                start_seq=after + 1,
                start_hash=task["start_hash"],
                tree=builder,
                expected=expected,
            )
        except LogBroken as broken:
            return {"broken": [broken.seq, broken.problem]}
        except RootMismatch as mismatch:
            return {"mismatch": [mismatch.size, mismatch.label, mismatch.problem]}
        finally:
            rows.close()
    return {"count": count, "head_hash": head_hash, "stack": [node.hex() for node in builder.stack]}


def main() -> int:
    task = json.load(sys.stdin)
    json.dump(run(task), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
