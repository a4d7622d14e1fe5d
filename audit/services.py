"""Writing the audit log. Only services call these, inside the transaction of their change."""

import functools
from collections.abc import Callable, Iterable

from django.db import connection, transaction
from django.utils import timezone

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


def _append(cursor, event: AuditEvent) -> None:
    values = [getattr(event, column) for column in ROW_COLUMNS]
    values[1] = AuditEvent._meta.get_field("created_at").get_db_prep_value(
        event.created_at, connection
    )
    if connection.vendor == "postgresql":
        cursor.execute(_APPEND_PG, values)
    else:
        cursor.execute(_INSERT, values)
        cursor.execute(_MOVE_HEAD, [event.seq, event.hash])
    event._state.adding = False
    event._state.db = connection.alias


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
    cursor = connection.cursor()
    head_seq, head_hash = _lock_head(cursor)
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    event = AuditEvent(
        seq=head_seq + 1,
        created_at=timezone.now(),
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
        prev_hash=head_hash,
    )
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
    _append(cursor, event)
    return event


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
