"""Writing the audit log. Only services call these, inside the transaction of their change.

Every event is hashed on top of the chain head, locked for the writing transaction. Outside a
batch it is chained and written at once (one statement on PostgreSQL: the insert and the head's
move). Inside ``batched()`` the events recorded at the batch's own level are chained and written
together when the block ends: a service that records several events (a transition and the
process moves it causes) locks the head once, only at the end, and appends once, and on
PostgreSQL the rows of the change itself travel in the same statement (write_with_events).
"""

import datetime
import functools
import json
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from decimal import Decimal
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, transaction
from django.utils import timezone
from psycopg.types.json import Jsonb

from audit.chain import (
    GENESIS_HASH,
    ROW_COLUMNS,
    canonical_bytes,
    canonical_json,
    event_hash,
)
from audit.models import AuditAction, AuditChainHead, AuditEvent
from stipula import context
from stipula.errors import DomainError

_EVENT_TABLE = AuditEvent._meta.db_table
_HEAD_TABLE = AuditChainHead._meta.db_table
_COLUMNS = ", ".join(ROW_COLUMNS)
_VALUES = ", ".join(["%s"] * len(ROW_COLUMNS))
# Table and column names come from the models; every value is a query parameter.
# On PostgreSQL the event and the new chain head are written in one statement.
_APPEND_PG = (
    f"WITH appended AS (INSERT INTO {_EVENT_TABLE} ({_COLUMNS}) VALUES ({_VALUES}) "  # noqa: S608
    f"RETURNING seq, hash) UPDATE {_HEAD_TABLE} SET seq = appended.seq, hash = appended.hash "
    f"FROM appended WHERE {_HEAD_TABLE}.id = 1"
)
_INSERT = f"INSERT INTO {_EVENT_TABLE} ({_COLUMNS}) VALUES ({_VALUES})"  # noqa: S608
_MOVE_HEAD = f"UPDATE {_HEAD_TABLE} SET seq = %s, hash = %s WHERE id = 1"  # noqa: S608
_READ_HEAD = f"SELECT seq, hash FROM {_HEAD_TABLE} WHERE id = 1"  # noqa: S608


def _lock_head(cursor) -> tuple[int, str]:
    """Lock the chain head row and return (seq, hash) of the last event."""
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    cursor.execute(_READ_HEAD + lock)
    row = cursor.fetchone()
    if row is not None:
        return row
    # First event ever (or a test database that was flushed): start from the last stored event.
    last = AuditEvent.objects.order_by("-seq").values_list("seq", "hash").first()
    seq, hash_ = last if last else (0, GENESIS_HASH)
    AuditChainHead.objects.bulk_create(
        [AuditChainHead(pk=1, seq=seq, hash=hash_)], ignore_conflicts=True
    )
    cursor.execute(_READ_HEAD + lock)
    return cursor.fetchone()


def _row(event: AuditEvent) -> list:
    values = [getattr(event, column) for column in ROW_COLUMNS]
    values[1] = _CREATED_AT.get_db_prep_value(event.created_at, connection)
    return values


_CREATED_AT = AuditEvent._meta.get_field("created_at")


def _written(event: AuditEvent) -> None:
    event._state.adding = False
    event._state.db = connection.alias


def _append(cursor, event: AuditEvent) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(_APPEND_PG, _row(event))
    else:
        cursor.execute(_INSERT, _row(event))
        cursor.execute(_MOVE_HEAD, [event.seq, event.hash])
    _written(event)


def _append_many(cursor, events: list[AuditEvent], writes=()) -> None:
    """Write ``events`` (consecutive, hashed) and move the head to the last; on PostgreSQL in
    one statement, together with the held-back ``writes`` (see write_with_events)."""
    if not writes and len(events) == 1:
        _append(cursor, events[0])
        return
    if connection.vendor != "postgresql":
        for sql, params in writes:
            cursor.execute(sql, params)
        if events:
            cursor.executemany(_INSERT, [_row(event) for event in events])
            cursor.execute(_MOVE_HEAD, [events[-1].seq, events[-1].hash])
    else:
        clauses = list(writes)
        if events:
            clauses.append(_insert_json(_EVENT_TABLE, ROW_COLUMNS, [_row(e) for e in events]))
            main = (_MOVE_HEAD, [events[-1].seq, events[-1].hash])
        else:
            main = clauses.pop()
        sql, params = main
        if clauses:
            sql = (
                "WITH "
                + ", ".join(f"w{n} AS ({clause})" for n, (clause, _p) in enumerate(clauses))
                + " "
                + sql
            )
            params = [value for _c, p in clauses for value in p] + params
        cursor.execute(sql, params)
    for event in events:
        _written(event)


class _Batch:
    """The events of one ``batched()`` block, not yet chained, and the writes held back to go
    with them."""

    def __init__(self):
        # The atomic blocks open when the batch began: events recorded inside a block opened
        # later could be rolled back with it, so they are not held back (see record_event).
        self.level = list(connection.savepoint_ids)
        self.pending: list[AuditEvent] = []
        self.writes: list[tuple[str, list]] = []

    def flush(self) -> None:
        if not (self.pending or self.writes):
            return
        pending, self.pending = self.pending, []
        writes, self.writes = self.writes, []
        cursor = connection.cursor()
        if pending:
            head_seq, head_hash = _lock_head(cursor)
            for event in pending:
                _chain(event, head_seq, head_hash)
                head_seq, head_hash = event.seq, event.hash
        _append_many(cursor, pending, writes)


def _batch() -> _Batch | None:
    return getattr(connection, "_stipula_audit_batch", None)


@contextmanager
def batched():
    """Write the events recorded in the block together, once it ends.

    The events recorded at the block's own level are chained and written when it ends, in the
    same transaction and at the same savepoint level, so they still commit with the change
    they record or not at all: the chain head is locked then (not for the whole block), each
    event takes its sequence number, time and hashes, in the order recorded, and they are
    appended in one statement. Until then an event returned by ``record_event`` has no sequence
    number or hash yet. An event recorded inside an atomic block opened within the batch (a
    savepoint that may roll back on its own) is written at once; whatever the batch holds back
    must have been written first (``unbatched()``), or record_event refuses it. Nested
    ``batched()`` blocks join the outer one.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written in the transaction of their change")
    if _batch() is not None:
        yield
        return
    batch = connection._stipula_audit_batch = _Batch()
    try:
        yield
    except BaseException:
        # The caller's transaction normally rolls back; should it commit anyway, the events
        # recorded so far commit with the changes they record. If they cannot be written, the
        # transaction must not commit at all.
        connection._stipula_audit_batch = None
        if (batch.pending or batch.writes) and not connection.needs_rollback:
            try:
                batch.flush()
            except DatabaseError:
                transaction.set_rollback(True)
        raise
    connection._stipula_audit_batch = None
    batch.flush()


@contextmanager
def unbatched():
    """Write the events held back by the current batch now, and record the block's events one by
    one (for code that opens savepoints of its own, such as viewflow's activations); the batch
    goes on after the block."""
    batch = _batch()
    if batch is None:
        yield
        return
    batch.flush()
    connection._stipula_audit_batch = None
    try:
        yield
    finally:
        connection._stipula_audit_batch = batch


# Writes that go with the events -------------------------------------------------------------


def write_update(obj, fields: Iterable[str]) -> None:
    """UPDATE the ``fields`` of ``obj``'s row as ``obj.save(update_fields=fields)`` would (an
    ``auto_now`` field takes the current time), with the current batch's events; see
    write_with_events."""
    db = connections[DEFAULT_DB_ALIAS]
    fields = tuple(fields)
    key = ("update", type(obj), fields, db.vendor)
    if key not in _SQL:
        meta = obj._meta
        columns = ", ".join(f"{db.ops.quote_name(meta.get_field(f).column)} = %s" for f in fields)
        _SQL[key] = (
            [meta.get_field(name) for name in fields],
            f"UPDATE {db.ops.quote_name(meta.db_table)} SET {columns} "  # noqa: S608 - names
            f"WHERE {db.ops.quote_name(meta.pk.column)} = %s",
        )
    model_fields, sql = _SQL[key]
    params = [f.get_db_prep_save(f.pre_save(obj, False), db) for f in model_fields]
    write_with_events(sql, [*params, obj.pk])


def write_insert(objs: list) -> None:
    """INSERT ``objs`` (of one model) as ``bulk_create`` would prepare their values (an empty
    automatic primary key is left to the database), with the current batch's events; see
    write_with_events. On PostgreSQL the rows travel as one JSON parameter."""
    if not objs:
        return
    db = connections[DEFAULT_DB_ALIAS]
    meta = objs[0]._meta
    fields = [
        f
        for f in meta.concrete_fields
        if not (f.primary_key and getattr(objs[0], f.attname) is None)
    ]
    rows = [[f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields] for obj in objs]
    if db.vendor == "postgresql":
        write_with_events(*_insert_json(meta.db_table, [f.column for f in fields], rows))
        return
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    write_with_events(
        f"INSERT INTO {db.ops.quote_name(meta.db_table)} "  # noqa: S608 - model names
        f"({', '.join(db.ops.quote_name(f.column) for f in fields)}) "
        f"VALUES {', '.join([row] * len(objs))}",
        [value for values in rows for value in values],
    )


_SQL: dict = {}


def _insert_json(table: str, columns, rows) -> tuple[str, list]:
    """PostgreSQL: an INSERT of ``rows`` (values as prepared for the database, in ``columns``
    order) whose values travel as one JSON parameter, turned into rows of the table's own types
    by ``jsonb_populate_recordset``: a short statement whatever the number of rows, which the
    driver parses once and keeps."""
    key = ("insert", table, tuple(columns))
    if key not in _SQL:
        quoted = ", ".join(f'"{column}"' for column in columns)
        _SQL[key] = (
            f'INSERT INTO "{table}" ({quoted}) SELECT {quoted} '  # noqa: S608 - model names
            f'FROM jsonb_populate_recordset(NULL::"{table}", %s::jsonb)',
            [json.dumps(column) for column in columns],
        )
    sql, keys = _SQL[key]
    text = ",".join(
        "{" + ",".join(f"{k}:{_json(v)}" for k, v in zip(keys, values, strict=True)) + "}"
        for values in rows
    )
    return sql, [f"[{text}]"]


def _json(value) -> str:
    if isinstance(value, Jsonb):  # a JSONField's value, with the field's own encoder
        return value.dumps(value.obj)
    return json.dumps(value, default=_json_default)


def _json_default(value):
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def write_with_events(sql: str, params: list) -> None:
    """Run a write that belongs with the events of the current batch.

    On PostgreSQL, inside ``batched()`` and at its level, the write is held back and sent with
    the batch's events, as a WITH clause of the one statement that appends them: a transition,
    the process's move and their audit events reach the database in one round trip. A held-back
    write sees the database as it was before that statement, like the other clauses: it must
    not depend on another one, and nothing may read or write its rows before the batch ends.
    Elsewhere (no batch, another database, a nested atomic block) it runs at once.
    """
    batch = _batch()
    if batch is not None and connection.savepoint_ids == batch.level:
        if connection.vendor == "postgresql":
            batch.writes.append((sql, params))
            return
    elif batch is not None and batch.writes:
        raise RuntimeError(
            "writes are held back by a batch: write inside a nested atomic block within "
            "audit.services.unbatched()"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def record_event(
    *,
    actor,
    action: AuditAction | str,
    obj=None,
    object_type: str = "",
    object_id: str = "",
    agreement_id: int | None = None,
    role: str = "",
    payload: dict | None = None,
    documents: Iterable[dict] = (),
    reason: str = "",
) -> AuditEvent:
    """Append one event to the chain. Must run inside the transaction of the change it records."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit events are written in the transaction of their change")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    batch = _batch()
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        actor_id=actor.pk if is_user else None,
        actor_username=actor.get_username() if is_user else "",
        actor_role=role if is_user else (role or "system"),
        action=str(action),
        object_type=object_type,
        object_id=str(object_id),
        agreement_id=agreement_id,
        payload=canonical_json(payload or {}),
        documents=canonical_json(list(documents)),
        reason=reason or "",
        request_id=context.request_id.get(),
    )
    if batch is not None and connection.savepoint_ids == batch.level:
        batch.pending.append(event)
        return event
    if batch is not None and (batch.pending or batch.writes):
        raise RuntimeError(
            "audit events are held back by a batch: record events inside a nested atomic "
            "block within audit.services.unbatched()"
        )
    cursor = connection.cursor()
    _chain(event, *_lock_head(cursor))
    _append(cursor, event)
    return event


def _chain(event: AuditEvent, head_seq: int, head_hash: str) -> None:
    """Give ``event`` its place after the head (locked by the caller): sequence number, time,
    previous hash and own hash."""
    event.seq = head_seq + 1
    event.created_at = timezone.now()
    event.prev_hash = head_hash
    event.hash = event_hash(
        head_hash,
        canonical_bytes(
            event.seq,
            event.created_at,
            event.actor_id,
            event.actor_username,
            event.actor_role,
            event.action,
            event.object_type,
            event.object_id,
            event.agreement_id,
            event.payload,
            event.documents,
            event.reason,
            event.request_id,
        ),
    )


def audited_refusals(attempted: str, *, locate: Callable[[dict], dict] = lambda kwargs: {}):
    """Decorate a service: a refused attempt (any DomainError) is recorded as its own audit event,
    in a transaction of its own once the attempt's has rolled back, then re-raised.

    ``locate`` maps the service's keyword arguments to record_refusal's ``agreement_id`` and/or
    ``obj``, so the refusal is filed under what it was about.
    """

    def decorate(service):
        @functools.wraps(service)
        def wrapper(*, actor, **kwargs):
            try:
                return service(actor=actor, **kwargs)
            except DomainError as error:
                record_refusal(actor=actor, attempted=attempted, error=error, **locate(kwargs))
                raise

        return wrapper

    return decorate


def record_refusal(
    *,
    actor,
    attempted: str,
    error,
    agreement_id=None,
    obj=None,
    object_type: str = "agreements.agreement",
    role="",
) -> None:
    """Record a refused attempt in its own transaction, after the attempt's was rolled back."""
    payload = {"attempted": attempted, "code": error.code, "message": str(error)}
    payload.update({k: str(v) for k, v in error.details.items()})
    with transaction.atomic(durable=not connection.in_atomic_block):
        record_event(
            actor=actor,
            action=AuditAction.ACTION_REFUSED,
            obj=obj,
            object_type="" if obj is not None else object_type,
            object_id="" if obj is not None else str(agreement_id or ""),
            agreement_id=agreement_id,
            role=role,
            payload=payload,
        )
