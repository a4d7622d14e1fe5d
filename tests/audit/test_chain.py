import hashlib
import json
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from audit.chain import GENESIS_HASH, canonical_bytes, canonical_json
from audit.dbguard import APPEND_ONLY_TABLES
from audit.models import AuditAction, AuditEvent
from audit.selectors import verify_chain
from audit.services import record_event

pytestmark = pytest.mark.django_db


def write(n, **kwargs):
    with transaction.atomic():
        return [
            record_event(
                actor=None,
                action=AuditAction.AGREEMENT_UPDATED,
                object_type="test",
                object_id=str(i),
                payload=kwargs.get("payload", {"i": i, "testo": "Unità & «città»"}),
                reason=kwargs.get("reason", ""),
            )
            for i in range(n)
        ]


def test_canonical_form_is_plain_sorted_compact_json():
    when = datetime(2026, 11, 25, 10, 30, 0, 5, tzinfo=UTC)
    payload = {"b": [1, "è"], "a": {"z": None, "y": True}}
    body = canonical_bytes(
        7, when, 3, "anna", "reviewer", "agreement.approved", "agreements.agreement", "12", 12,
        canonical_json(payload), canonical_json([{"name": "v1.docx", "sha256": "ab"}]),
        'motivo "tra virgolette"\n', "req-1",
    )  # fmt: skip
    expected = json.dumps(
        {
            "seq": 7,
            "created_at": "2026-11-25T10:30:00.000005Z",
            "actor_id": 3,
            "actor_username": "anna",
            "actor_role": "reviewer",
            "action": "agreement.approved",
            "object_type": "agreements.agreement",
            "object_id": "12",
            "agreement_id": 12,
            "payload": payload,
            "documents": [{"name": "v1.docx", "sha256": "ab"}],
            "reason": 'motivo "tra virgolette"\n',
            "request_id": "req-1",
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()
    assert body == expected


def test_events_are_gapless_and_each_hash_covers_the_previous_one():
    events = write(5)
    assert [e.seq for e in events] == list(range(1, 6))
    prev = GENESIS_HASH
    for stored in AuditEvent.objects.order_by("seq"):
        body = json.dumps(
            {
                "seq": stored.seq,
                "created_at": stored.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "actor_id": stored.actor_id,
                "actor_username": stored.actor_username,
                "actor_role": stored.actor_role,
                "action": stored.action,
                "object_type": stored.object_type,
                "object_id": stored.object_id,
                "agreement_id": stored.agreement_id,
                "payload": json.loads(stored.payload),
                "documents": json.loads(stored.documents),
                "reason": stored.reason,
                "request_id": stored.request_id,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        assert stored.prev_hash == prev
        assert stored.hash == hashlib.sha256(bytes.fromhex(prev) + body).hexdigest()
        prev = stored.hash


@pytest.mark.django_db(transaction=True)
def test_event_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError, match="in the transaction of their change"):
        record_event(actor=None, action=AuditAction.AGREEMENT_UPDATED, object_type="x")
    assert AuditEvent.objects.count() == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET reason = 'cambiato'",
        "DELETE FROM audit_auditevent",
        "DELETE FROM audit_auditevent WHERE seq = 1",
    ],
)
def test_database_refuses_changes_to_the_log(statement):
    write(2)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(statement)
    assert AuditEvent.objects.count() == 2
    assert not AuditEvent.objects.exclude(reason="").exists()


def test_database_refuses_truncate(postgresql_only):
    write(2)
    # CASCADE: other tables (webhook deliveries) refer to the events, and would otherwise refuse
    # first; the trigger refuses the truncation itself.
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE audit_auditevent CASCADE")
    assert AuditEvent.objects.count() == 2


def tamper(sql, params=()):
    """Bypass the triggers the way a database superuser could, then change rows."""
    from audit.testing import drop_triggers

    drop_triggers()  # rolled back with the test's transaction
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def test_audit_verify_passes_on_an_intact_log(capsys):
    events = write(4)
    call_command("audit_verify")
    out = capsys.readouterr().out
    assert "4" in out
    assert events[-1].hash in out


@pytest.mark.parametrize(
    ("sql", "bad_seq", "problem"),
    [
        ("UPDATE audit_auditevent SET reason = 'ritoccato' WHERE seq = 3", 3, "does not match"),
        ("UPDATE audit_auditevent SET payload = '{\"i\":9}' WHERE seq = 2", 2, "does not match"),
        ("DELETE FROM audit_auditevent WHERE seq = 3", 3, "missing"),
        ("DELETE FROM audit_auditevent WHERE seq >= 4", 4, "events at the end are missing"),
        (
            "UPDATE audit_auditevent SET prev_hash = %s WHERE seq = 4",
            4,
            "previous hash does not match",
        ),
        (
            "UPDATE audit_auditevent SET actor_username = 'mallory', hash = %s WHERE seq = 2",
            2,
            "does not match",
        ),
    ],
)
def test_audit_verify_names_the_first_tampered_event(capsys, sql, bad_seq, problem):
    write(5)
    tamper(sql, ["f" * 64] if "%s" in sql else ())

    with pytest.raises(SystemExit) as exit_info:
        call_command("audit_verify")

    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert f"event {bad_seq}" in err
    assert problem in err
    assert verify_chain().first_bad_seq == bad_seq


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_every_evidence_table_is_append_only_in_the_database(table):
    from audit.testing import triggers_present

    assert triggers_present(table)
