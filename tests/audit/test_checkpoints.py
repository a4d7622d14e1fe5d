"""Checkpoints (RULES.md A4): signed by the seal, timestamped by a real RFC 3161 server, made at
every registration and daily, refused over a tampered log; proofs from the stored tiles."""

import dataclasses

import pytest
from cryptography import x509
from django.core.management import call_command
from django.db import connection, transaction

from audit import rfc3161, tree
from audit.checkpoints import (
    CheckpointRefused,
    checkpoint_after_commit,
    checkpoint_make,
    consistency_proof,
    inclusion_proof,
    latest_checkpoint,
    verify_log,
)
from audit.merkle import MemoryTree, leaf_hash, verify_consistency, verify_inclusion
from audit.models import AuditAction, AuditEvent, AuditTreeTile, Checkpoint
from audit.testing import drop_triggers, ensure_triggers
from audit.treehead import parse_tree_head, timestamp_message, verify_signature
from tests.audit.conftest import write_events

pytestmark = pytest.mark.django_db


def tamper(sql: str, params=()) -> None:
    """Change the log behind the triggers' back, as a database superuser could (RULES.md A3)."""
    drop_triggers()
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
    finally:
        ensure_triggers()


def memory_tree() -> MemoryTree:
    """The tree recomputed from the stored events with the writer's serialisation."""
    rows = tree.event_rows(1, 10**9)
    from audit.chain import canonical_bytes

    return MemoryTree(leaf_hash(canonical_bytes(*row[:13])) for row in rows)


def test_a_checkpoint_is_signed_by_the_seal_timestamped_and_recorded(sealed):
    write_events(300)
    checkpoint = checkpoint_make(actor=None, reason="daily")

    assert checkpoint.number == 1
    assert checkpoint.tree_size == 300
    assert checkpoint.root_hash == memory_tree().root(300).hex()
    assert checkpoint.head_hash == AuditEvent.objects.get(seq=300).hash
    head = parse_tree_head(bytes(checkpoint.tree_head))
    assert (head["number"], head["tree_size"], head["root_hash"]) == (1, 300, checkpoint.root_hash)
    seal = x509.load_der_x509_certificate(bytes(checkpoint.seal_certificate))
    assert seal.subject.rfc4514_string() == "CN=Sigillo elettronico di Stipula,O=Stipula,C=IT"
    verify_signature(
        seal,
        checkpoint.signature_algorithm,
        bytes(checkpoint.tree_head),
        bytes(checkpoint.signature),
    )
    info = rfc3161.verify_token(
        bytes(checkpoint.timestamp_token),
        timestamp_message(bytes(checkpoint.tree_head), bytes(checkpoint.signature)),
    )
    assert info.gen_time == checkpoint.timestamp_time
    assert "Time Stamping Authority" in info.tsa_certificate.subject.rfc4514_string()
    assert checkpoint.tsa_url == sealed.tsa_url and checkpoint.timestamp_error == ""

    event = AuditEvent.objects.get(seq=301)
    assert event.action == AuditAction.CHECKPOINT_MADE
    assert event.object_id == "1" and event.reason == "daily"
    assert event.payload_data["root_hash"] == checkpoint.root_hash
    assert event.payload_data["tree_size"] == 300
    assert event.payload_data["timestamped"] is True
    assert event.payload_data["development_seal"] is False
    # A complete leaf tile of 256 hashes, a partial one of 44, and the partial level-1 tile
    # with the root of the first 256 events.
    assert sorted(AuditTreeTile.objects.values_list("level", "index", "width")) == [
        (0, 0, 256),
        (0, 1, 44),
        (1, 0, 1),
    ]


def test_without_a_timestamp_server_the_checkpoint_says_it_has_no_token(sealed, settings):
    settings.STIPULA_TSA_URL = ""
    write_events(3)
    checkpoint = checkpoint_make(reason="test")
    assert checkpoint.timestamp_token == b""
    assert checkpoint.timestamp_time is None
    assert "no timestamp server is configured (STIPULA_TSA_URL)" in checkpoint.timestamp_error
    assert AuditEvent.objects.get(seq=4).payload_data["timestamped"] is False


def test_a_timestamp_server_that_does_not_answer_leaves_the_checkpoint_signed_without_a_token(
    sealed, settings
):
    with sealed.offline("tsa"):
        write_events(2)
        checkpoint = checkpoint_make(reason="test")
    assert checkpoint.timestamp_token == b""
    assert "the TSA at" in checkpoint.timestamp_error
    assert checkpoint.signature


def test_without_a_configured_seal_the_development_seal_signs(settings, tmp_path):
    settings.STIPULA_SEAL_PKCS12 = ""
    settings.STIPULA_TSA_URL = ""
    settings.DATA_DIR = tmp_path
    write_events(2)
    checkpoint = checkpoint_make(reason="test")
    seal = x509.load_der_x509_certificate(bytes(checkpoint.seal_certificate))
    assert "not for production" in seal.subject.rfc4514_string()
    assert checkpoint.signature_algorithm == "ecdsa-sha256"
    verify_signature(
        seal,
        checkpoint.signature_algorithm,
        bytes(checkpoint.tree_head),
        bytes(checkpoint.signature),
    )
    assert AuditEvent.objects.get(seq=3).payload_data["development_seal"] is True


def test_checkpoints_extend_each_other_and_every_proof_verifies(sealed):
    sizes = []
    for count in (5, 250, 300):  # crosses the first leaf tile (256 events) and the second
        write_events(count)
        sizes.append(checkpoint_make(reason="test").tree_size)
    assert sizes == [5, 256, 557]
    full = memory_tree()
    checkpoints = list(Checkpoint.objects.order_by("number"))
    for checkpoint in checkpoints:
        assert checkpoint.root_hash == full.root(checkpoint.tree_size).hex()
    reader = tree.TreeReader()
    latest = checkpoints[-1]
    for seq in range(1, latest.tree_size + 1):
        proof = inclusion_proof(seq, checkpoint=latest, reader=reader)
        assert [bytes.fromhex(node) for node in proof.path] == full.inclusion_proof(
            seq - 1, latest.tree_size
        )
        verify_inclusion(
            seq - 1,
            latest.tree_size,
            bytes.fromhex(proof.leaf_hash),
            [bytes.fromhex(node) for node in proof.path],
            bytes.fromhex(latest.root_hash),
        )
    for old, new in [(1, 2), (1, 3), (2, 3)]:
        proof = consistency_proof(old, new)
        assert (proof.old_size, proof.new_size) == (
            checkpoints[old - 1].tree_size,
            checkpoints[new - 1].tree_size,
        )
        verify_consistency(
            proof.old_size,
            proof.new_size,
            bytes.fromhex(proof.old_root),
            bytes.fromhex(proof.new_root),
            [bytes.fromhex(node) for node in proof.path],
        )
    status = verify_log()
    assert status.ok and status.checkpoints == 3 and status.count == 558


def test_an_event_after_the_checkpoint_has_no_proof_under_it(sealed):
    write_events(3)
    checkpoint = checkpoint_make(reason="test")
    with pytest.raises(Exception, match="Event 4 is not covered by checkpoint #1"):
        inclusion_proof(4, checkpoint=checkpoint)


def test_upper_tiles_are_written_and_read(sealed, monkeypatch, django_assert_num_queries):
    """With tiles of 4 hashes, 70 events fill three levels of tiles: the same code paths as
    65,536 and 16,777,216 events with the real tiles of 256."""
    monkeypatch.setattr(tree, "TILE_HEIGHT", 2)
    monkeypatch.setattr(tree, "TILE_WIDTH", 4)
    write_events(33)
    checkpoint_make(reason="test")  # 33 events
    write_events(36)
    latest = checkpoint_make(reason="test")  # 70 events
    tiles = set(AuditTreeTile.objects.values_list("level", "index", "width"))
    # Complete tiles hold 4 hashes; each checkpoint also left the partial tiles at the edge of
    # its tree (33 leaves: 8 complete 4-leaf nodes, 2 of 16 leaves; 70: 17, 4, and 1 of 64).
    assert tiles == (
        {(0, i, 4) for i in range(17)}
        | {(0, 8, 1), (0, 17, 2)}
        | {(1, i, 4) for i in range(4)}
        | {(1, 4, 1)}
        | {(2, 0, 2), (2, 0, 4)}
        | {(3, 0, 1)}
    )
    full = memory_tree()
    assert latest.root_hash == full.root(70).hex()
    reader = tree.TreeReader()
    for size in range(1, 71):
        assert reader.root(size) == full.root(size)
        for index in range(size):
            assert reader.inclusion_proof(index, size) == full.inclusion_proof(index, size)
        for old in range(size + 1):
            assert reader.consistency_proof(old, size) == full.consistency_proof(old, size)
    # Under a checkpoint, a proof reads its tiles in one query and no event.
    with django_assert_num_queries(1):
        tree.TreeReader().inclusion_proof(41, 70)


def test_a_checkpoint_is_refused_when_the_log_was_changed_and_the_refusal_is_recorded(sealed):
    write_events(5)
    checkpoint_make(reason="test")
    write_events(5)
    tamper(
        f"UPDATE {AuditEvent._meta.db_table} SET reason = %s WHERE seq = %s",
        ["ritoccato", 8],
    )
    with pytest.raises(CheckpointRefused, match="does not verify at event 8"):
        checkpoint_make(reason="test")
    assert latest_checkpoint().number == 1
    refusal = AuditEvent.objects.order_by("-seq").first()
    assert refusal.action == AuditAction.ACTION_REFUSED
    assert refusal.payload_data["attempted"] == "audit.checkpoint_make"
    assert "does not verify at event 8" in refusal.payload_data["message"]


def test_a_rewritten_chain_is_caught_by_the_checkpoint_root(sealed):
    """An event rewritten with its hash (and those after it) recomputed passes the chain check;
    the checkpoint's root does not: verify_log names the checkpoint, and no new checkpoint is
    made over it."""
    from audit.chain import canonical_bytes, event_hash

    write_events(6)
    checkpoint_make(reason="test")
    rows = tree.event_rows(1, 7)
    tamper(f"UPDATE {AuditEvent._meta.db_table} SET reason = %s WHERE seq = 3", ["riscritto"])
    prev = rows[1][14]
    for row in tree.event_rows(3, 7):
        new_hash = event_hash(prev, canonical_bytes(*row[:13]))
        tamper(
            f"UPDATE {AuditEvent._meta.db_table} SET prev_hash = %s, hash = %s WHERE seq = %s",
            [prev, new_hash, row[0]],
        )
        prev = new_hash
    tamper("UPDATE audit_auditchainhead SET hash = %s WHERE id = 1", [prev])
    status = verify_log()
    assert not status.ok
    assert "checkpoint #1" in status.problem and "Merkle root of events 1-6" in status.problem
    with pytest.raises(CheckpointRefused, match="no longer gives the root of checkpoint #1"):
        checkpoint_make(reason="test")


def test_registrations_committed_together_share_one_checkpoint(
    sealed, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            write_events(2)
            checkpoint_after_commit(reason="registration REP-CONV 2026/1")
        with transaction.atomic():
            write_events(1)
            checkpoint_after_commit(reason="registration REP-CONV 2026/2")
    # Both committed before the first checkpoint was made: it covers both.
    assert list(Checkpoint.objects.values_list("tree_size", "reason")) == [
        (3, "registration REP-CONV 2026/1")
    ]
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            write_events(1)
            checkpoint_after_commit(reason="registration REP-CONV 2026/3")
    assert list(Checkpoint.objects.values_list("tree_size", "reason")) == [
        (3, "registration REP-CONV 2026/1"),
        (5, "registration REP-CONV 2026/3"),
    ]


def test_after_a_registration_the_checkpoint_can_be_made_by_the_celery_worker(
    sealed, settings, request, django_capture_on_commit_callbacks
):
    """CELERY_TASK_ALWAYS_EAGER runs the task in this process, as a worker would run it."""
    from stipula.celery import app as celery_app

    settings.STIPULA_NOTIFY_ASYNC = True
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(celery_app.conf, "task_always_eager", eager))
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            write_events(3)
            checkpoint_after_commit(reason="registration REP-CONV 2026/7")
    checkpoint = latest_checkpoint()
    assert (checkpoint.tree_size, checkpoint.reason) == (3, "registration REP-CONV 2026/7")


def test_checkpoints_are_append_only(sealed):
    from django.db import DatabaseError

    write_events(256)
    checkpoint_make(reason="test")
    for statement in ("UPDATE audit_checkpoint SET tree_size = 0", "DELETE FROM audit_checkpoint"):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement)
    with pytest.raises(DatabaseError, match="append-only"):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_audittreetile")


def test_the_management_command_makes_a_checkpoint(sealed, capsys):
    write_events(2)
    call_command("audit_checkpoint", reason="cron")
    out = capsys.readouterr().out
    checkpoint = latest_checkpoint()
    assert f"Checkpoint #1: events 1 to 2, Merkle root {checkpoint.root_hash}." in out
    assert "Timestamped at" in out and checkpoint.reason == "cron"


def test_the_daily_checkpoint_is_scheduled(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["audit-checkpoint"]
    assert entry["task"] == "audit.make_checkpoint"
    from audit.tasks import make_checkpoint

    assert make_checkpoint.name == "audit.make_checkpoint"


def test_a_checkpoint_costs_a_few_queries_whatever_the_size_of_the_log(
    sealed, django_assert_max_num_queries
):
    """It reads only the events after the last complete leaf tile, and the tiles it needs."""
    write_events(600)
    checkpoint_make(reason="test")
    write_events(10)
    with django_assert_max_num_queries(16):
        checkpoint = checkpoint_make(reason="test")
    assert checkpoint.root_hash == memory_tree().root(checkpoint.tree_size).hex()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_large_log_is_verified_by_two_processes_that_name_the_first_bad_event(
    sealed, monkeypatch
):
    from audit import fullcheck

    monkeypatch.setattr(fullcheck, "PARALLEL_MIN_EVENTS", 40)
    write_events(100)
    checkpoint_make(reason="test")  # the split lies within the stored tiles: at most here
    write_events(60)
    checkpoint_make(reason="test")
    status = verify_log()
    assert status.ok and status.processes == 2 and status.checkpoints == 2
    assert status.root_hash == memory_tree().root(status.count).hex()
    assert verify_log(parallel=False) == dataclasses.replace(status, processes=1)

    table = AuditEvent._meta.db_table
    tamper(f"UPDATE {table} SET reason = %s WHERE seq = %s", ["ritoccato", 130])
    second_half = verify_log()
    assert (second_half.ok, second_half.first_bad_seq) == (False, 130)
    tamper(f"UPDATE {table} SET reason = %s WHERE seq = %s", ["ritoccato", 12])
    first_half = verify_log()
    assert (first_half.ok, first_half.first_bad_seq) == (False, 12)
