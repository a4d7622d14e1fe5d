"""Throughput of registrations through the real service, from concurrent workers, on PostgreSQL.

Each registration is what the registrar's click does (registry.services.registration_register):
a durable transaction that locks the agreement, checks the registrar and the state, reads the
stored signed PDF and hashes it (the impronta), refuses a document registered already, takes the
next number from the locked counter row of (register, year), builds and seals the segnatura XML,
inserts the registration, fires the «register» transition with its hash-chained audit event, and
after the commit asks for an audit checkpoint. Eight worker processes (``--workers``) share the
agreements and all register in the same register, so every one of them contends for the same
counter row and the same audit chain head: the worst case for numbering.

Set-up (not timed): the agreements are written in bulk, already «signed», each with its own
stored "signed PDF" (``--pdf-kb`` of distinct bytes; the service hashes what is on disk), since
signing 10,000 agreements for real would take hours; no process (viewflow) is started for them.

At the end the script checks that the numbers are 1..N without a gap or a duplicate, that every
agreement is «registered» with exactly one REGISTERED audit event, and that the audit chain
verifies.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stipula_bench \\
        .venv/bin/python bench/registration.py [--registrations 10000] [--workers 8]

The database named in DATABASE_URL is dropped and recreated (its name must contain "bench").
"""

import argparse
import multiprocessing
import os
import shutil
import sys
import tempfile
import time

import _setup

TARGET_PER_SECOND = 500


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--registrations", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--pdf-kb", type=int, default=64, help="size of each signed PDF (KiB)")
    return parser.parse_args()


def build(count: int, pdf_kb: int):
    """Users, a register and ``count`` signed agreements with their stored PDFs."""
    import hashlib

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.files.storage import default_storage

    from agreements import services as agreement_services
    from agreements.models import Agreement, AgreementParty, AgreementState, AgreementVersion
    from registry.services import register_create
    from signing.models import SigningDocument

    User = get_user_model()
    admin = User.objects.create_user("admin")
    admin.groups.add(Group.objects.get_or_create(name="administrator")[0])
    officer = User.objects.create_user("officer")
    officer.groups.add(Group.objects.get_or_create(name="legal_officer")[0])
    registrar_group = Group.objects.get_or_create(name="registrar")[0]
    for index in range(64):
        User.objects.create_user(f"registrar{index}").groups.add(registrar_group)
    register = register_create(
        actor=admin,
        code="REP-CONV",
        name="Repertorio delle convenzioni",
        administration_code="c_h501",
        aoo_code="AOO-SOC",
    )
    organisations = [
        agreement_services.organisation_create(
            actor=None, name=name, kind="public_body", fiscal_code=f"8000000000{i}"
        )
        for i, name in enumerate(
            ["Conferenza dei Sindaci", "Azienda Sanitaria Locale", "Provincia di Prova"]
        )
    ]
    agreements = Agreement.objects.bulk_create(
        Agreement(
            subject=f"Patto per l'inclusione sociale n. {i} - ambito territoriale «{i % 7}»",
            kind=Agreement.Kind.PATTO_TERRITORIALE,
            legal_officer=officer,
        )
        for i in range(count)
    )
    AgreementParty.objects.bulk_create(
        AgreementParty(agreement=a, organisation=o, position=p)
        for a in agreements
        for p, o in enumerate(organisations, start=1)
    )
    filler = os.urandom(pdf_kb * 1024)
    versions = []
    documents = []
    for agreement in agreements:
        pdf = b"%PDF-1.7\n%" + str(agreement.pk).encode() + b"\n" + filler + b"\n%%EOF\n"
        digest = hashlib.sha256(pdf).hexdigest()
        name = f"signing/{digest[:2]}/{digest}.pdf"
        default_storage.save(name, __import__("io").BytesIO(pdf))
        versions.append(
            AgreementVersion(
                agreement=agreement,
                number=1,
                author=officer,
                docx=f"versions/{digest}.docx",
                docx_sha256=digest,
                pdf=name,
                pdf_sha256=digest,
            )
        )
        documents.append((agreement, name, digest))
    versions = AgreementVersion.objects.bulk_create(versions)
    SigningDocument.objects.bulk_create(
        SigningDocument(
            agreement=agreement,
            approved_version=version,
            prepared_pdf=name,
            prepared_sha256=digest,
            current_pdf=name,
            current_sha256=digest,
            level="B-LTA",
        )
        for (agreement, name, digest), version in zip(documents, versions, strict=True)
    )
    Agreement.objects.filter(pk__in=[a.pk for a in agreements]).update(state=AgreementState.SIGNED)
    return register, [a.pk for a in agreements]


def worker(index, agreement_ids, register_id, barrier, results):
    import django
    from django.db import connection

    django.setup()
    connection.close()
    from django.contrib.auth import get_user_model

    from agreements.models import Agreement
    from registry.models import Register
    from registry.services import registration_register

    actor = get_user_model().objects.get(username=f"registrar{index}")
    actor.groups.all()  # roles are read once per request in real use
    register = Register.objects.get(pk=register_id)
    agreements = list(Agreement.objects.filter(pk__in=agreement_ids).order_by("pk"))
    errors = 0
    barrier.wait()
    started = time.perf_counter()
    for agreement in agreements:
        try:
            registration_register(actor=actor, agreement=agreement, register=register)
        except Exception as error:  # noqa: BLE001 - counted and reported
            errors += 1
            if errors < 3:
                print(f"worker {index}: {error!r}", file=sys.stderr)
    results.put((index, started, time.perf_counter(), len(agreements), errors))
    connection.close()


def check(count: int) -> list[str]:
    from django.db.models import Count

    from agreements.models import Agreement
    from audit.models import AuditAction, AuditEvent
    from audit.selectors import verify_chain
    from registry.models import Registration

    problems = []
    numbers = list(Registration.objects.order_by("number").values_list("number", flat=True))
    if numbers != list(range(1, count + 1)):
        missing = sorted(set(range(1, count + 1)) - set(numbers))
        duplicates = len(numbers) - len(set(numbers))
        problems.append(
            f"numbers are not 1..{count}: {len(numbers)} given, {len(missing)} missing "
            f"(first {missing[:5]}), {duplicates} duplicated"
        )
    registered = Agreement.objects.filter(state="registered").count()
    if registered != count:
        problems.append(f"{registered} agreements registered, expected {count}")
    events = (
        AuditEvent.objects.filter(action=AuditAction.REGISTERED)
        .values("agreement_id")
        .annotate(n=Count("seq"))
    )
    if sum(1 for e in events if e["n"] == 1) != count:
        problems.append("not exactly one REGISTERED audit event per agreement")
    status = verify_chain()
    if not status.ok:
        problems.append(f"audit chain broken at event {status.first_bad_seq}")
    return problems


def main():
    args = parse_args()
    url = os.environ.get("DATABASE_URL", _setup.DEFAULT_POSTGRES_URL)
    if _setup.vendor_of(url) != "postgresql":
        _setup.fail("this benchmark needs PostgreSQL (concurrent row locks)")
    data_dir = tempfile.mkdtemp(prefix="stipula-bench-registration-")
    os.environ["STIPULA_DATA_DIR"] = data_dir
    os.environ.setdefault("STIPULA_WORKFLOW_AUTOSTART", "false")
    try:
        _setup.fresh_database(url)
        from django.conf import settings
        from django.db import connection

        print(f"machine: {_setup.machine()}; load average {os.getloadavg()[0]:.2f}")
        started = time.perf_counter()
        register, ids = build(args.registrations, args.pdf_kb)
        print(
            f"set-up: {len(ids)} signed agreements with {args.pdf_kb} KiB PDFs in "
            f"{time.perf_counter() - started:.1f} s (not timed); "
            f"checkpoints {'in the worker' if settings.STIPULA_NOTIFY_ASYNC else 'after commit'}"
        )
        connection.close()

        context = multiprocessing.get_context("fork")
        barrier = context.Barrier(args.workers)
        results = context.Queue()
        shares = [ids[i :: args.workers] for i in range(args.workers)]
        processes = [
            context.Process(target=worker, args=(i, shares[i], register.pk, barrier, results))
            for i in range(args.workers)
        ]
        for process in processes:
            process.start()
        outcomes = [results.get() for _ in processes]
        for process in processes:
            process.join()

        begin = min(o[1] for o in outcomes)
        end = max(o[2] for o in outcomes)
        done = sum(o[3] - o[4] for o in outcomes)
        errors = sum(o[4] for o in outcomes)
        elapsed = end - begin
        rate = done / elapsed
        print(
            f"registrations: {done} by {args.workers} workers in {elapsed:.2f} s: "
            f"{rate:,.0f}/s ({elapsed / done * 1000 * args.workers:.1f} ms each per worker); "
            f"{errors} errors; load average {os.getloadavg()[0]:.2f}"
        )
        problems = check(done)
        print("check: " + ("no gap, no duplicate, chain verified" if not problems else ""))
        for problem in problems:
            print(f"  PROBLEM: {problem}")
        met = rate >= TARGET_PER_SECOND
        print(f"target >= {TARGET_PER_SECOND}/s: {'met' if met else 'NOT met'}")
        if problems or errors:
            raise SystemExit(1)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
