"""The stored Merkle tree of the audit log: tiles, roots and proofs (RULES.md A4).

Hashes are stored in tiles (audit.models.AuditTreeTile), as transparency logs store them: a tile
of level L holds up to 256 consecutive node hashes at tree level 8L, so level 0 holds leaf
hashes, level 1 the roots of the subtrees of 256 events, level 2 those of 65,536 events, and so
on. A complete tile (256 hashes) never changes; at the growing edge of the tree, each checkpoint
also stores the partial tiles of its size (fewer hashes), and a later, wider one is a new row.

Any node a proof needs under a checkpoint is then the root of at most 128 stored hashes, so an
inclusion or consistency proof over a million events reads its few tiles in one query and hashes
a few hundred nodes, whatever the size of the log.

Tiles are written by :func:`extend`, which audit.checkpoints calls when it makes a checkpoint: it
reads the events after the last complete leaf tile, checks their hash chain on the way
(audit.logcheck) and stores the tiles they complete and the partial ones. Appending an event
(audit.services.record_event) costs nothing more.
"""

from contextlib import closing
from itertools import takewhile

from django.db import connection

from audit.chain import GENESIS_HASH, ROW_COLUMNS, canonical_bytes
from audit.logcheck import LogBroken, walk
from audit.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    perfect_root,
    range_root_from_nodes,
)
from audit.models import AuditEvent, AuditTreeTile

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH_SIZE = 32
_WRITE_BATCH = 200

_EVENTS = AuditEvent._meta.db_table
_TILES = AuditTreeTile._meta.db_table
_PG_COLUMNS = ", ".join(
    "created_at AT TIME ZONE 'UTC'" if name == "created_at" else name for name in ROW_COLUMNS
)


def _columns() -> str:
    return _PG_COLUMNS if connection.vendor == "postgresql" else ", ".join(ROW_COLUMNS)


def event_rows(first_seq: int, last_seq: int) -> list[tuple]:
    """Events ``first_seq..last_seq`` as tuples in ROW_COLUMNS order (a small range)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_columns()} FROM {_EVENTS} WHERE seq BETWEEN %s AND %s "  # noqa: S608
            "ORDER BY seq",
            [first_seq, last_seq],
        )
        return cursor.fetchall()


def stored_hash(seq: int) -> str:
    """The stored chain hash of event ``seq`` (the genesis hash for 0)."""
    if seq == 0:
        return GENESIS_HASH
    return AuditEvent.objects.values_list("hash", flat=True).get(seq=seq)


def tiled_leaves() -> int:
    """How many events the complete leaf tiles cover (a multiple of 256)."""
    last = (
        AuditTreeTile.objects.filter(level=0, width=TILE_WIDTH)
        .order_by("-index")
        .values_list("index", flat=True)
        .first()
    )
    return 0 if last is None else (last + 1) * TILE_WIDTH


def _split(hashes: bytes) -> list[bytes]:
    return [hashes[i : i + HASH_SIZE] for i in range(0, len(hashes), HASH_SIZE)]


def _widest(level: int, index: int) -> bytes | None:
    stored = (
        AuditTreeTile.objects.filter(level=level, index=index)
        .order_by("-width")
        .values_list("hashes", flat=True)
        .first()
    )
    return None if stored is None else bytes(stored)


class _TileWriter:
    """Takes leaf hashes in order from ``first_leaf`` (a multiple of 256) and stores each tile
    they complete, and the upper tiles those complete; ``finish`` stores the partial tiles at
    the growing edge of the tree."""

    def __init__(self, first_leaf: int):
        self.index = first_leaf // TILE_WIDTH
        self.buffer: list[bytes] = []
        self.pending: list[AuditTreeTile] = []
        self.roots: dict[tuple[int, int], bytes] = {}
        # The widest stored tile above a tile whose root is needed: it may hold that root.
        self.upper: dict[tuple[int, int], bytes | None] = {}
        self.written = 0

    def append(self, leaf: bytes) -> None:
        buffer = self.buffer
        buffer.append(leaf)
        if len(buffer) == TILE_WIDTH:
            self._complete(0, self.index, buffer)
            self.index += 1
            self.buffer = []

    def _store(self, level: int, index: int, hashes: list[bytes]) -> None:
        self.pending.append(
            AuditTreeTile(level=level, index=index, width=len(hashes), hashes=b"".join(hashes))
        )
        if len(self.pending) >= _WRITE_BATCH:
            self.flush()

    def _complete(self, level: int, index: int, hashes: list[bytes]) -> None:
        self._store(level, index, hashes)
        self.roots[(level, index)] = perfect_root(hashes)
        if index % TILE_WIDTH == TILE_WIDTH - 1:
            first = index - (TILE_WIDTH - 1)
            self._complete(
                level + 1,
                index // TILE_WIDTH,
                [self._tile_root(level, i) for i in range(first, index + 1)],
            )

    def _tile_root(self, level: int, index: int) -> bytes:
        """Root of the complete tile (level, index): computed in this run, else the entry of
        the widest stored tile above it, else recomputed from the stored tile."""
        cached = self.roots.get((level, index))
        if cached is None:
            self.flush()
            upper = (level + 1, index // TILE_WIDTH)
            if upper not in self.upper:
                self.upper[upper] = _widest(*upper)
            above = self.upper[upper]
            offset = (index % TILE_WIDTH) * HASH_SIZE
            if above is not None and offset < len(above):
                cached = above[offset : offset + HASH_SIZE]
            else:
                stored = AuditTreeTile.objects.values_list("hashes", flat=True).get(
                    level=level, index=index, width=TILE_WIDTH
                )
                cached = perfect_root(_split(bytes(stored)))
            self.roots[(level, index)] = cached
        return cached

    def finish(self, size: int) -> None:
        """Store the partial tiles of a tree of ``size`` leaves: at each level, the complete
        nodes that no complete tile holds yet (unless a tile of that width is stored)."""
        level = 0
        nodes = size  # complete nodes at tree level 8 * level
        while nodes:
            start = nodes - nodes % TILE_WIDTH
            if nodes > start:
                index = start // TILE_WIDTH
                exists = AuditTreeTile.objects.filter(
                    level=level, index=index, width=nodes - start
                ).exists()
                if not exists:
                    if level == 0:
                        hashes = list(self.buffer)
                    else:
                        hashes = [self._tile_root(level - 1, k) for k in range(start, nodes)]
                    self._store(level, index, hashes)
            nodes //= TILE_WIDTH
            level += 1
        self.flush()

    def flush(self) -> None:
        if self.pending:
            AuditTreeTile.objects.bulk_create(self.pending)
            self.written += len(self.pending)
            self.pending = []


def extend(size: int) -> list[bytes]:
    """Store the tiles of the first ``size`` events, complete and partial; return the leaf
    hashes of the events after the last complete leaf tile (fewer than 256).

    The events read (those after the last complete leaf tile) are checked on the way: raises
    audit.logcheck.LogBroken naming the first one that is missing or does not match its hash,
    so that no checkpoint is ever made over a log that does not verify. Runs inside the caller's
    transaction, under the checkpoint lock (audit.checkpoints), so two extensions never race.
    """
    from audit.selectors import iter_chain_rows

    tiled = tiled_leaves()
    if size < tiled:
        raise ValueError(f"the tree already has {tiled} leaves in complete tiles")
    writer = _TileWriter(tiled)
    with closing(iter_chain_rows(after_seq=tiled)) as rows:
        count, _head = walk(
            takewhile(lambda row: row[0] <= size, rows),
            start_seq=tiled + 1,
            start_hash=stored_hash(tiled),
            leaves=writer,
        )
    writer.flush()
    if tiled + count != size:
        raise LogBroken(
            tiled + count + 1,
            f"missing: the log ends at event {tiled + count}, but the chain head records "
            f"event {size}",
        )
    writer.finish(size)
    return writer.buffer


class TreeReader:
    """Roots and proofs of the tree at any size the stored tiles (and the log past them) reach.

    Read-only. The tiles a proof needs are fetched in one query and kept for the reader's life,
    with the nodes computed from them (use one reader for many proofs, a new one to see tiles
    written since). Leaves past the stored tiles are hashed from the log
    (audit.chain.canonical_bytes), or taken from ``trailing`` when the caller has them already
    (audit.checkpoints, right after extend()).
    """

    _MAX_CACHED_NODES = 200_000

    def __init__(self, *, trailing: list[bytes] | None = None, tiled: int | None = None):
        self._tiles: dict[tuple[int, int], bytes | None] = {}
        self._leaves: dict[int, list[bytes]] = {}
        self._nodes: dict[tuple[int, int], bytes] = {}
        if trailing:
            first = tiled_leaves() if tiled is None else tiled
            self._leaves[first // TILE_WIDTH] = list(trailing)

    def _tile(self, level: int, index: int) -> bytes | None:
        key = (level, index)
        if key not in self._tiles:
            self._tiles[key] = _widest(level, index)
        return self._tiles[key]

    def _prefetch(self, keys) -> None:
        """Fetch the widest stored tile of each (level, index) in ``keys`` in one query."""
        missing = sorted({key for key in keys if key not in self._tiles})
        if not missing:
            return
        found: dict[tuple[int, int], bytes] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                f'SELECT level, "index", hashes FROM {_TILES} '  # noqa: S608 - the model's table
                f'WHERE (level, "index") IN ({", ".join(["(%s, %s)"] * len(missing))}) '
                'ORDER BY level, "index", width DESC',
                [value for key in missing for value in key],
            )
            for level, index, hashes in cursor.fetchall():
                found.setdefault((level, index), bytes(hashes))
        for key in missing:
            self._tiles[key] = found.get(key)

    def _plan(self, ranges: list[tuple[int, int]]) -> None:
        """Prefetch the tiles that hold the perfect subtrees the ranges split into."""
        keys = set()

        def record(level: int, index: int) -> bytes:
            tile_level, within = divmod(level, TILE_HEIGHT)
            keys.add((tile_level, (index << within) >> TILE_HEIGHT))
            return EMPTY_ROOT

        for start, end in ranges:
            range_root_from_nodes(start, end, record)
        self._prefetch(keys)

    def _leaf_from_log(self, index: int) -> bytes:
        block = index // TILE_WIDTH
        leaves = self._leaves.get(block)
        if leaves is None or index - block * TILE_WIDTH >= len(leaves):
            first = block * TILE_WIDTH
            rows = event_rows(first + 1, first + TILE_WIDTH)
            leaves = []
            for row in rows:
                if row[0] != first + len(leaves) + 1:
                    break
                leaves.append(leaf_hash(canonical_bytes(*row[:13])))
            self._leaves[block] = leaves
        offset = index - block * TILE_WIDTH
        if offset >= len(leaves):
            raise LogBroken(index + 1, "missing: the log has no such event")
        return leaves[offset]

    def node(self, level: int, index: int) -> bytes:
        """Root of the perfect subtree of leaves ``[index << level, (index + 1) << level)``."""
        key = (level, index)
        cached = self._nodes.get(key)
        if cached is not None:
            return cached
        tile_level, within = divmod(level, TILE_HEIGHT)
        # The subtree's descendants at tree level 8 * tile_level, and the tile that holds them.
        first = index << within
        tile = self._tile(tile_level, first >> TILE_HEIGHT)
        offset = (first & (TILE_WIDTH - 1)) * HASH_SIZE
        count = 1 << within
        if tile is not None and offset + count * HASH_SIZE <= len(tile):
            hashes = tile[offset : offset + count * HASH_SIZE]
            if count == 1:
                return hashes
            value = perfect_root(_split(hashes))
        elif level == 0:
            return self._leaf_from_log(index)
        else:
            value = node_hash(self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1))
        if len(self._nodes) >= self._MAX_CACHED_NODES:
            self._nodes.clear()
        self._nodes[key] = value
        return value

    def range_root(self, start: int, end: int) -> bytes:
        return range_root_from_nodes(start, end, self.node)

    def root(self, size: int) -> bytes:
        if not size:
            return EMPTY_ROOT
        self._plan([(0, size)])
        return self.range_root(0, size)

    def _planned(self, make_proof):
        ranges: list[tuple[int, int]] = []

        def record(start: int, end: int) -> bytes:
            ranges.append((start, end))
            return EMPTY_ROOT

        make_proof(record)
        self._plan(ranges)
        return make_proof(self.range_root)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        return self._planned(lambda range_root: inclusion_proof(index, size, range_root))

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return self._planned(lambda range_root: consistency_proof(old_size, new_size, range_root))
