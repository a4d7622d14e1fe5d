"""Full verification of the log, on both cores when it is large (audit.checkpoints.verify_log).

Recomputing the chain and the tree is pure Python work on one core, and most of the machine's
second core would idle. So a large log on PostgreSQL is split in two at event ``a``: a second
process (``python -m audit.walkworker``, Django-free, its own database connection) walks events
``a + 1..n`` while this one walks ``1..a``. The worker starts from the stored hash of event
``a`` and from the tree's state at size ``a`` as the stored tiles give it (audit.tree), so it
checks the checkpoints in its half as it goes; the split holds only if this process's own walk
ends on exactly that hash and that state, which it checks afterwards. When it does not (the first
half or the tiles were changed), or anything else goes wrong with the worker, the caller walks
the whole log once more in one process, which names the first problem exactly.
"""

import json
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from itertools import takewhile
from pathlib import Path

from django.db import connection

from audit.chain import GENESIS_HASH
from audit.logcheck import Expected, LogBroken, RootMismatch, walk
from audit.merkle import TreeBuilder

# Below this many events, a second process costs more than it saves.
PARALLEL_MIN_EVENTS = 200_000


@dataclass
class Walked:
    """What a walk over events ``start_seq..end_seq`` found."""

    count: int
    head_hash: str
    builder: TreeBuilder
    broken: LogBroken | None = None
    mismatch: RootMismatch | None = None
    processes: int = 1


def walk_range(after: int, upto: int, builder: TreeBuilder, start_hash: str, expected) -> Walked:
    """Walk events ``after + 1..upto`` from the database into ``builder`` (at size ``after``)."""
    from audit.selectors import iter_chain_rows

    try:
        with closing(iter_chain_rows(after_seq=after)) as rows:
            count, head_hash = walk(
                takewhile(lambda row: row[0] <= upto, rows),
                start_seq=after + 1,
                start_hash=start_hash,
                tree=builder,
                expected=[
                    item
                    for item in expected
                    if after < item.size <= upto or item.size == after == 0
                ],
            )
    except LogBroken as broken:
        return Walked(broken.seq - after - 1, "", builder, broken=broken)
    except RootMismatch as mismatch:
        return Walked(mismatch.size - after, "", builder, mismatch=mismatch)
    return Walked(count, head_hash, builder)


def _conninfo() -> dict:
    """psycopg connection keywords for the worker: this connection's database (the test
    database under tests), user, password, host and port."""
    settings = connection.settings_dict
    info = {"dbname": settings["NAME"]}
    for key, name in (
        ("USER", "user"),
        ("PASSWORD", "password"),
        ("HOST", "host"),
        ("PORT", "port"),
    ):
        if settings.get(key):
            info[name] = str(settings[key])
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslpassword"):
        if key in (settings.get("OPTIONS") or {}):
            info[key] = str(settings["OPTIONS"][key])
    return info


def can_split(size: int) -> bool:
    return size >= PARALLEL_MIN_EVENTS and connection.vendor == "postgresql"


def split_walk(size: int, expected: list[Expected]) -> Walked | None:
    """Walk events 1..size in two processes; None when the split cannot stand (walk alone)."""
    from audit import tree
    from audit.selectors import _select

    # The split point lies within the stored tiles, so the tree's state there is read, not
    # recomputed: the latest checkpoint's size at most.
    covered = max((item.size for item in expected if item.size <= size), default=0)
    split = min(size // 2, covered)
    if split < PARALLEL_MIN_EVENTS // 4:
        return None
    reader = tree.TreeReader()
    stack, offset = [], 0
    for bit in reversed(range(split.bit_length())):
        if split >> bit & 1:
            stack.append(reader.node(bit, offset >> bit))
            offset += 1 << bit
    start_hash = tree.stored_hash(split)
    task = {
        "conninfo": _conninfo(),
        "select": _select("postgresql"),
        "after": split,
        "upto": size,
        "start_hash": start_hash,
        "stack": [node.hex() for node in stack],
        "expected": [
            {
                "size": item.size,
                "root": item.root.hex(),
                "head_hash": item.head_hash,
                "label": item.label,
            }
            for item in expected
            if split < item.size <= size
        ],
    }
    worker = subprocess.Popen(  # noqa: S603 - this interpreter, a module of this package
        [sys.executable, "-m", "audit.walkworker"],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        worker.stdin.write(json.dumps(task).encode())
        worker.stdin.close()
        first = walk_range(0, split, TreeBuilder(), GENESIS_HASH, expected)
        output = worker.stdout.read()
    finally:
        worker.stdout.close()
        if worker.wait(timeout=600) != 0:
            output = b""
    if first.broken or first.mismatch:
        return first
    if not output or first.head_hash != start_hash or first.builder.stack != stack:
        return None
    found = json.loads(output)
    builder = TreeBuilder()
    if "broken" in found or "mismatch" in found:
        result = Walked(0, "", builder, processes=2)
        if "broken" in found:
            result.broken = LogBroken(*found["broken"])
        else:
            result.mismatch = RootMismatch(*found["mismatch"])
        return result
    builder.stack = [bytes.fromhex(node) for node in found["stack"]]
    builder.size = split + found["count"]
    return Walked(first.count + found["count"], found["head_hash"], builder, processes=2)
