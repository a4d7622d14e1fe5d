"""How fast the audit chain is verified, and whether memory stays flat as the log grows.

Fills a freshly created benchmark database with a valid chain of synthetic events (hashes computed
with audit.chain, the same functions the writer uses; rows loaded with COPY on PostgreSQL), then
times audit.selectors.verify_chain() -- what `manage.py audit_verify` runs -- at each checkpoint
size. Memory is measured in a second, separate pass so that tracemalloc does not slow the timed
one.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stipula_bench \\
        .venv/bin/python bench/audit_verify.py                  # 100k, 300k, 1M events
    DATABASE_URL=sqlite:///var/stipula_bench.sqlite3 \\
        .venv/bin/python bench/audit_verify.py --events 50000   # quick check on SQLite
"""

import argparse
import datetime as dt
import gc
import os
import random
import resource
import sys
import time
import tracemalloc

import _setup

TARGET_EVENTS_PER_SECOND = 200_000

# Events shaped like the ones the services write (see agreements/events.py): the payloads, the
# optional document hashes and reasons, non-ASCII names, system events without an actor.
ORGANISATIONS = [
    "Comune di Forlì",
    "Regione Emilia-Romagna",
    "Università di Bologna",
    "ASL Città di Torino",
    "Cooperativa Sociale «Il Ponte»",
    "Comune di Sant'Agata sul Santerno",
]
STATES = ["draft", "negotiation", "legal_review", "negotiation", "legal_review", "signature"]
TRANSITIONS = [
    ("agreement.negotiation_opened", "legal_officer"),
    ("agreement.submitted_for_review", "legal_officer"),
    ("agreement.changes_requested", "reviewer"),
    ("agreement.submitted_for_review", "legal_officer"),
    ("agreement.approved", "reviewer"),
]


def synthetic_events(count: int, *, start_seq: int, start_hash: str, start_time, rng):
    """Yield rows in ROW_COLUMNS order: a valid chain of ``count`` events after the given head.

    Every 12 events tell one agreement's story: created, two parties, two signatories, a version,
    five transitions; the twelfth is a system job with no actor and no agreement.
    """
    from audit.chain import canonical_bytes, canonical_json, event_hash

    prev = start_hash
    created_at = start_time
    for seq in range(start_seq, start_seq + count):
        created_at += dt.timedelta(microseconds=rng.randrange(1, 2_000_000))
        agreement_id = 1 + seq // 12
        officer = 10 + agreement_id % 7
        actor_id, username, role = officer, f"avv.rossi{officer}", "legal_officer"
        object_type, object_id = "agreements.agreement", str(agreement_id)
        documents, reason = "[]", ""
        stage = seq % 12
        if stage == 0:
            action = "agreement.created"
            payload = {
                "subject": f"Convenzione n. {agreement_id} per la gestione associata dei servizi",
                "kind": "convenzione",
                "legal_officer": username,
                "valid_from": "2027-01-01",
                "valid_until": None,
                "after": {"state": "draft"},
            }
        elif stage in (1, 2):
            action = "agreement.party_added"
            object_type, object_id = "agreements.agreementparty", str(agreement_id * 2 + stage)
            organisation = ORGANISATIONS[(agreement_id + stage) % len(ORGANISATIONS)]
            payload = {"organisation": organisation, "organisation_id": stage, "position": stage}
        elif stage in (3, 4):
            action = "agreement.signatory_added"
            object_type, object_id = "agreements.signatory", str(agreement_id * 2 + stage)
            payload = {
                "party": ORGANISATIONS[(agreement_id + stage) % len(ORGANISATIONS)],
                "user": f"sindaco{stage}",
                "full_name": "Nicolò Ferraù",
                "title": "Sindaco pro tempore",
                "authorising_act": f"Delibera di Giunta n. {seq % 500}/2026",
                "fiscal_code": "FRRNCL70A01D704X",
            }
        elif stage == 5:
            action = "agreement.version_created"
            object_type, object_id = "agreements.agreementversion", str(agreement_id)
            payload = {"number": 1, "parent": None, "note": "Prima stesura"}
            documents = canonical_json([{"name": "v1.docx", "sha256": f"{seq:064x}"}])
        elif stage < 11:
            action, role = TRANSITIONS[stage - 6]
            if role == "reviewer":
                actor_id, username = 3, "dott.ssa.bianchi"
            payload = {
                "before": {"state": STATES[stage - 6]},
                "after": {"state": STATES[stage - 5]},
            }
            if action == "agreement.changes_requested":
                reason = "Precisare all'art. 4 la ripartizione degli oneri tra gli enti."
            if action == "agreement.approved":
                documents = canonical_json([{"name": "v1.docx", "sha256": f"{seq:064x}"}])
        else:
            actor_id, username, role = None, "", "system"
            action = "organisation.created"
            object_type, object_id, agreement_id = "agreements.organisation", str(seq), None
            payload = {
                "name": f"Ente n. {seq}",
                "kind": "public_body",
                "fiscal_code": f"{seq:011d}",
                "vat_number": "",
                "ipa_code": f"c_{seq % 10000:04d}",
            }
        payload = canonical_json(payload)
        request_id = f"{rng.getrandbits(128):032x}" if actor_id else ""
        row = (
            seq,
            created_at,
            actor_id,
            username,
            role,
            action,
            object_type,
            object_id,
            agreement_id,
            payload,
            documents,
            reason,
            request_id,
        )
        hash_ = event_hash(prev, canonical_bytes(*row))
        yield (*row, prev, hash_)
        prev = hash_


def load_events(count: int, *, rng) -> tuple[int, float]:
    """Append ``count`` events to the chain and move the chain head; return (head seq, seconds)."""
    from django.db import connection, transaction

    from audit.chain import GENESIS_HASH, ROW_COLUMNS
    from audit.models import AuditChainHead, AuditEvent

    table = AuditEvent._meta.db_table
    head = AuditChainHead.objects.filter(pk=1).first()
    start_seq, start_hash = (head.seq + 1, head.hash) if head else (1, GENESIS_HASH)
    last = AuditEvent.objects.filter(seq=start_seq - 1).values_list("created_at", flat=True)
    start_time = last[0] if last else dt.datetime(2026, 1, 1, 8, 0, tzinfo=dt.UTC)
    rows = synthetic_events(
        count, start_seq=start_seq, start_hash=start_hash, start_time=start_time, rng=rng
    )
    columns = ", ".join(ROW_COLUMNS)
    started = time.perf_counter()
    seq, hash_ = start_seq - 1, start_hash
    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        seq, hash_ = row[0], row[14]
            else:
                adapt = connection.ops.adapt_datetimefield_value
                insert = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * 15)})"
                batch = []
                for row in rows:
                    batch.append((row[0], adapt(row[1]), *row[2:]))
                    if len(batch) == 10_000:
                        cursor.executemany(insert, batch)
                        batch = []
                    seq, hash_ = row[0], row[14]
                if batch:
                    cursor.executemany(insert, batch)
        AuditChainHead.objects.update_or_create(pk=1, defaults={"seq": seq, "hash": hash_})
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:  # as autovacuum would, before anyone verifies
            cursor.execute(f"VACUUM ANALYZE {table}")
    return seq, time.perf_counter() - started


def rss_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so that it measures only what follows."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def timed_verify(expected: int, batch_size: int | None) -> tuple[float, float | None]:
    """Verify once; return (seconds, peak RSS growth in MiB during the run, if measurable)."""
    from audit.selectors import verify_chain

    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    gc.collect()
    can_reset = reset_peak_rss()
    before = rss_kib("VmRSS")
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    status = verify_chain(**kwargs)
    seconds = time.perf_counter() - started
    check(status, expected)
    if can_reset and before is not None:
        growth = (rss_kib("VmHWM") - before) / 1024
    else:  # without clear_refs the process peak only tells growth beyond earlier peaks
        growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before) / 1024
    return seconds, growth


def traced_verify(expected: int, batch_size: int | None) -> float:
    """Verify once under tracemalloc; return the peak of Python allocations in MiB."""
    from audit.selectors import verify_chain

    kwargs = {} if batch_size is None else {"batch_size": batch_size}
    gc.collect()
    tracemalloc.start()
    try:
        status = verify_chain(**kwargs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    check(status, expected)
    return peak / (1024 * 1024)


def check(status, expected: int) -> None:
    if not status.ok or status.count != expected:
        _setup.fail(
            f"verify_chain did not accept the benchmark chain: ok={status.ok} "
            f"count={status.count} (expected {expected}) first_bad_seq={status.first_bad_seq} "
            f"{status.problem}"
        )


def checkpoints_for(args) -> list[int]:
    if args.checkpoints:
        sizes = sorted({int(s.replace("_", "")) for s in args.checkpoints.split(",")})
    else:
        sizes = sorted({max(1, args.events // 10), max(1, args.events * 3 // 10), args.events})
    if sizes[-1] != args.events:
        sizes = [s for s in sizes if s < args.events] + [args.events]
    return sizes


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="size of the final log (default 1,000,000)"
    )
    parser.add_argument(
        "--checkpoints",
        help="comma-separated log sizes to verify at (default: 10%%, 30%% and 100%% of --events)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="timed verifications per checkpoint; best is shown"
    )
    parser.add_argument(
        "--batch-size", type=int, default=None, help="verify_chain batch size (default: its own)"
    )
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced pass")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", _setup.DEFAULT_POSTGRES_URL),
        help="a dedicated database whose name contains 'bench'; it is dropped and recreated "
        "(default: $DATABASE_URL, else %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.events < 1:
        _setup.fail("--events must be at least 1")

    _setup.fresh_database(args.database_url)
    print(f"machine: {_setup.machine()}")
    rng = random.Random(args.seed)
    sizes = checkpoints_for(args)
    results = []
    loaded = 0
    for size in sizes:
        loaded, load_seconds = load_events(size - loaded, rng=rng)
        print(f"loaded events up to {loaded:,} ({load_seconds:.1f} s)", flush=True)
        best, growth = None, None
        for _ in range(max(1, args.repeat)):
            seconds, rss_growth = timed_verify(size, args.batch_size)
            if best is None or seconds < best:
                best, growth = seconds, rss_growth
        traced = None if args.no_tracemalloc else traced_verify(size, args.batch_size)
        results.append((size, best, growth, traced))
        print(f"verified {size:,} events in {best:.2f} s: {size / best:,.0f} events/s", flush=True)

    print()
    print(
        "| events | verify time (s) | events/s | peak RSS growth (MiB) | tracemalloc peak (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|")
    for size, seconds, growth, traced in results:
        growth_text = "n/a" if growth is None else f"{growth:.1f}"
        traced_text = "n/a" if traced is None else f"{traced:.1f}"
        print(
            f"| {size:,} | {seconds:.2f} | {size / seconds:,.0f} | {growth_text} | {traced_text} |"
        )
    size, seconds, _, _ = results[-1]
    rate = size / seconds
    verdict = "met" if rate >= TARGET_EVENTS_PER_SECOND else "NOT met"
    print()
    print(
        f"target >= {TARGET_EVENTS_PER_SECOND:,} events/s at {size:,} events: {verdict} "
        f"({rate:,.0f} events/s)"
    )
    # The walk holds at most two batches (the one being checked and the one being fetched), so
    # memory is judged on logs of at least three batches; smaller ones fit in a batch anyway.
    from audit.selectors import BATCH_SIZE

    batch = args.batch_size or BATCH_SIZE
    traced = [
        (size, peak) for size, _, _, peak in results if peak is not None and size >= 3 * batch
    ]
    if len(traced) > 1:
        peaks = [peak for _, peak in traced]
        flat = max(peaks) <= 1.25 * min(peaks) + 1
        print(
            f"memory: tracemalloc peak {min(peaks):.1f}-{max(peaks):.1f} MiB from {traced[0][0]:,} "
            f"to {traced[-1][0]:,} events ({'flat' if flat else 'GROWS'}; batches of {batch:,})"
        )
    elif not args.no_tracemalloc:
        print(f"memory: give checkpoints of at least {3 * batch:,} events to judge flatness")


if __name__ == "__main__":
    sys.exit(main())
