"""Auditors' work on a large log (PostgreSQL): full verification, streaming exports, proofs.

Fills a freshly created benchmark database with 1,000,000 synthetic events (the generator and the
COPY of bench/audit_verify.py: hashes by audit.chain, the writer's functions), making a
checkpoint at 30 % and at 100 % (signed with the local test PKI's seal, timestamped by its TSA on
loopback, as the tests do), then prints:

(a) full verification, audit.checkpoints.verify_log(): the hash chain and the Merkle tree
    recomputed from every event, the root of every checkpoint checked on the way (two processes,
    one per half of the log: audit.fullcheck; and again in one process, for scale); against a
    baseline in the same run that reads the same rows with a plain psycopg cursor (server-side,
    text format, batches of 10,000) and hashes each row's stored text with hashlib; and, for
    scale, audit.selectors.verify_chain() (the chain alone), best of --repeat each, interleaved;
(b) streaming exports of the whole log, CSV and JSON Lines (audit.exports.export_to into a
    sink that counts bytes), rows/s and the process's peak resident memory during the export;
(c) inclusion proofs of random events under the latest checkpoint and consistency proofs
    between the two checkpoints, each with a fresh audit.tree.TreeReader (nothing cached),
    including the database reads and the check of the proof against the checkpoint's root.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stipula_bench_a .venv/bin/python bench/audit.py

The machine may be shared: the load average is printed with the figures.
"""

import argparse
import gc
import hashlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import _setup
from audit_verify import load_events, reset_peak_rss, rss_kib

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/stipula_bench_a"
TARGET_VERIFY_RATE = 200_000
TARGET_VERIFY_RATIO = 2.0
TARGET_EXPORT_RATE = 50_000
TARGET_EXPORT_MIB = 200
TARGET_PROOF_MS = 10.0
SEAL_PASSWORD = "bench"  # noqa: S105 - the test PKI's seal, made for this run


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


class Sink:
    """A binary file object that keeps nothing: the export's cost without the disk's."""

    def __init__(self):
        self.size = 0

    def write(self, data) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


def baseline(url: str) -> tuple[int, float]:
    """Read every event with a plain psycopg cursor and hash each row's stored text."""
    import psycopg

    from audit.chain import ROW_COLUMNS

    config = _setup.database_config(url)
    with psycopg.connect(
        dbname=config["NAME"],
        host=config.get("HOST") or None,
        port=config.get("PORT") or None,
        user=config.get("USER") or None,
        password=config.get("PASSWORD") or None,
    ) as conn:
        started = time.perf_counter()
        count = 0
        sha256 = hashlib.sha256
        with conn.cursor(name="baseline") as cursor:
            cursor.itersize = 10_000
            cursor.execute(
                f"SELECT {', '.join(ROW_COLUMNS)} FROM audit_auditevent ORDER BY seq"  # noqa: S608
            )
            for row in cursor:
                sha256("\x1f".join(map(str, row)).encode()).digest()
                count += 1
        return count, time.perf_counter() - started


def timed_verify(parallel: bool | None = None) -> tuple[float, object]:
    from audit.checkpoints import verify_log

    gc.collect()
    started = time.perf_counter()
    status = verify_log(parallel=parallel)
    return time.perf_counter() - started, status


def timed_chain_only() -> float:
    from audit.selectors import verify_chain

    gc.collect()
    started = time.perf_counter()
    status = verify_chain()
    if not status.ok:
        _setup.fail(f"verify_chain did not accept the log: {status}")
    return time.perf_counter() - started


def timed_export(fmt: str) -> tuple[int, float, float | None, float | None]:
    """(rows, seconds, peak RSS of the process in MiB, growth over the start in MiB)."""
    from audit.exports import EventFilter, export_to

    gc.collect()
    can_reset = reset_peak_rss()
    before = rss_kib("VmRSS")
    started = time.perf_counter()
    result = export_to(Sink(), fmt, EventFilter())
    seconds = time.perf_counter() - started
    peak = rss_kib("VmHWM") if can_reset else None
    peak_mib = peak / 1024 if peak is not None else None
    growth = (peak - before) / 1024 if peak is not None and before is not None else None
    return result.rows, seconds, peak_mib, growth


def proof_times(count: int, size: int, rng) -> list[float]:
    from audit import tree
    from audit.checkpoints import inclusion_proof, latest_checkpoint

    checkpoint = latest_checkpoint()
    times = []
    for _ in range(count):
        seq = rng.randint(1, size)
        started = time.perf_counter()
        inclusion_proof(seq, checkpoint=checkpoint, reader=tree.TreeReader())
        times.append((time.perf_counter() - started) * 1000)
    return times


def consistency_times(count: int) -> list[float]:
    from audit import tree
    from audit.checkpoints import consistency_proof

    times = []
    for _ in range(count):
        started = time.perf_counter()
        consistency_proof(1, 2, reader=tree.TreeReader())
        times.append((time.perf_counter() - started) * 1000)
    return times


def describe(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return (
        f"median {statistics.median(ordered):.2f} ms, p95 {p95:.2f} ms, max {ordered[-1]:.2f} ms "
        f"({len(ordered)} proofs)"
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of (a); best is shown")
    parser.add_argument("--proofs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", DEFAULT_URL),
        help="a dedicated PostgreSQL database whose name contains 'bench'; it is dropped and "
        "recreated (default: $DATABASE_URL, else %(default)s)",
    )
    args = parser.parse_args(argv)
    if _setup.vendor_of(args.database_url) != "postgresql":
        _setup.fail("bench/audit.py runs on PostgreSQL (give a postgres:// DATABASE_URL)")
    _setup.check_bench_database(args.database_url)
    work = Path(tempfile.mkdtemp(prefix="stipula-bench-audit-"))
    os.environ["STIPULA_DATA_DIR"] = str(work)
    _setup.fresh_database(args.database_url)
    print(f"machine: {_setup.machine()}; {load()}")

    from django.conf import settings

    from audit.checkpoints import checkpoint_make
    from signing.pki import running_pki

    rng = random.Random(args.seed)
    with running_pki(work / "pki") as pki:
        seal = work / "seal.p12"
        seal.write_bytes(pki.pkcs12("seal", SEAL_PASSWORD))
        settings.STIPULA_SEAL_PKCS12 = str(seal)
        settings.STIPULA_SEAL_PASSWORD = SEAL_PASSWORD
        settings.STIPULA_TSA_URL = pki.tsa_url

        first = max(1, args.events * 3 // 10)
        loaded, seconds = load_events(first, rng=rng)
        print(f"loaded {loaded:,} events ({seconds:.1f} s)", flush=True)
        started = time.perf_counter()
        one = checkpoint_make(reason="bench")
        print(
            f"checkpoint #1 over {one.tree_size:,} events in {time.perf_counter() - started:.1f} s "
            f"(tiles written, chain checked; timestamped: {bool(one.timestamp_token)})",
            flush=True,
        )
        loaded, seconds = load_events(args.events - loaded - 1, rng=rng)
        print(f"loaded events up to {loaded:,} ({seconds:.1f} s)", flush=True)
        started = time.perf_counter()
        two = checkpoint_make(reason="bench")
        print(
            f"checkpoint #2 over {two.tree_size:,} events in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        total = two.tree_size + 1  # and checkpoint #2's own event

        # (a) Full verification against the baseline, interleaved, best of --repeat each.
        print(f"\n(a) full verification; {load()}", flush=True)
        best_verify = best_base = best_chain = best_single = None
        for _ in range(max(1, args.repeat)):
            seconds = timed_chain_only()
            best_chain = seconds if best_chain is None else min(best_chain, seconds)
            seconds, status = timed_verify()
            if not status.ok or status.count != total or status.checkpoints != 2:
                _setup.fail(f"verify_log did not accept the log: {status}")
            processes = status.processes
            best_verify = seconds if best_verify is None else min(best_verify, seconds)
            seconds, status = timed_verify(parallel=False)
            if not status.ok or status.count != total:
                _setup.fail(f"verify_log (one process) did not accept the log: {status}")
            best_single = seconds if best_single is None else min(best_single, seconds)
            count, seconds = baseline(args.database_url)
            if count != total:
                _setup.fail(f"the baseline read {count} rows, not {total}")
            best_base = seconds if best_base is None else min(best_base, seconds)
            print(
                f"  verify_log {total / best_verify:,.0f} events/s ({processes} processes), "
                f"in one process {total / best_single:,.0f}/s, baseline {total / best_base:,.0f} "
                f"rows/s, verify_chain (chain only) {total / best_chain:,.0f}/s; {load()}",
                flush=True,
            )
        verify_rate, base_rate = total / best_verify, total / best_base
        ratio = best_verify / best_base

        # (b) Streaming exports.
        print(f"\n(b) exports; {load()}", flush=True)
        exports = {}
        for fmt in ("csv", "jsonl"):
            rows, seconds, peak, growth = timed_export(fmt)
            exports[fmt] = (rows, seconds, peak, growth)
            print(
                f"  {fmt}: {rows:,} rows in {seconds:.1f} s, {rows / seconds:,.0f} rows/s, peak "
                f"RSS {peak:.0f} MiB (growth {growth:.0f} MiB); {load()}",
                flush=True,
            )

        # (c) Proofs.
        print(f"\n(c) proofs; {load()}", flush=True)
        inclusion = proof_times(args.proofs, two.tree_size, rng)
        consistency = consistency_times(max(10, args.proofs // 10))
        print(f"  inclusion under checkpoint #2 ({two.tree_size:,}): {describe(inclusion)}")
        print(f"  consistency #1 -> #2: {describe(consistency)}; {load()}")

    print()
    print("| measure | figure | target | met? |")
    print("|---|---:|---:|:---:|")
    yes = {True: "yes", False: "**no**"}
    print(
        f"| (a) full verification (chain + Merkle root + 2 checkpoints), {total:,} events, "
        f"{processes} processes | "
        f"{verify_rate:,.0f} events/s ({best_verify:.2f} s) | ≥ {TARGET_VERIFY_RATE:,}/s | "
        f"{yes[verify_rate >= TARGET_VERIFY_RATE]} |"
    )
    print(
        f"| (a) the same in one process | {total / best_single:,.0f} events/s "
        f"({best_single:.2f} s) | | |"
    )
    print(
        f"| (a) baseline: plain psycopg cursor + hashlib | {base_rate:,.0f} rows/s "
        f"({best_base:.2f} s) | | |"
    )
    print(
        f"| (a) for scale: verify_chain (the chain alone, `manage.py audit_verify`) | "
        f"{total / best_chain:,.0f} events/s ({best_chain:.2f} s) | | |"
    )
    print(
        f"| (a) verification time / baseline time | {ratio:.2f}x | ≤ {TARGET_VERIFY_RATIO:.0f}x | "
        f"{yes[ratio <= TARGET_VERIFY_RATIO]} |"
    )
    for fmt, (rows, seconds, peak, _growth) in exports.items():
        ok = rows / seconds >= TARGET_EXPORT_RATE and peak is not None and peak < TARGET_EXPORT_MIB
        print(
            f"| (b) {fmt} export, {rows:,} rows | {rows / seconds:,.0f} rows/s, peak RSS "
            f"{peak:.0f} MiB | ≥ {TARGET_EXPORT_RATE:,}/s, < {TARGET_EXPORT_MIB} MB | {yes[ok]} |"
        )
    print(
        f"| (c) inclusion proof, {two.tree_size:,} events | {describe(inclusion)} | "
        f"< {TARGET_PROOF_MS:.0f} ms | {yes[max(inclusion) < TARGET_PROOF_MS]} |"
    )
    print(f"| (c) consistency proof #1 -> #2 | {describe(consistency)} | | |")


if __name__ == "__main__":
    sys.exit(main())
