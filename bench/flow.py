"""Throughput of the agreement process (workflow/) on PostgreSQL: full processes per minute for
agreements with 15 signatories, and SQL statements per task completion.

Task handling only, no documents: each step is one durable transaction that locks the agreement
row and does what the service would do around the workflow hook, without the files. Transitions
fire the agreement's state machine (``agreement.<transition>()`` and its save) and call
``workflow.hooks.agreement_transitioned``; a signature writes the ``Signature`` and
``SignatureValidation`` rows (hashes, no PDF) and calls ``workflow.hooks.signature_recorded``, and
the last one fires ``complete_signing`` as the signing service does. The lifecycle's own audit
events and e-mails are bench/lifecycle.py's subject and are left out; the workflow's (task
events, e-mails to task owners composed after the commit into Django's in-memory backend) are in.

One process: start (drafting task), submit for review (review task), approval (15 signing
tasks, parallel), 15 signatures, registration: 19 transactions, 18 human tasks.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stipula_bench \\
        .venv/bin/python bench/flow.py [--processes 40] [--signatories 15] [--order parallel]

The database named in DATABASE_URL is dropped and recreated (its name must contain "bench").
"""

import argparse
import hashlib
import itertools
import sys
import time

import _setup

_counter = itertools.count(1)


def make_user(username: str, role: str):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(
        username=username,
        email=f"{username}@example.org",
        password=None,
        first_name=username.split(".")[0].capitalize(),
        last_name=username.split(".")[-1].capitalize(),
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def build_people(signatories: int):
    from agreements import services
    from agreements.models import Organisation

    people = {
        "officer": make_user("avv.rossi", "legal_officer"),
        "reviewer": make_user("dott.bianchi", "reviewer"),
        "registrar": make_user("prot.gialli", "registrar"),
    }
    members = []
    for index in range(1, signatories + 1):
        user = make_user(f"firma.n{index}", "signatory")
        organisation = services.organisation_create(
            actor=None,
            name=f"Ente n. {index}",
            kind=Organisation.Kind.PUBLIC_BODY,
            fiscal_code=f"{80000000000 + index}",
        )
        services.organisation_add_member(actor=None, organisation=organisation, user=user)
        members.append((organisation, user))
    return people, members


def build_agreement(number: int, people, members, order: str):
    """An agreement in draft with one party and one signatory per member, a version row whose
    files do not exist (no documents), a named reviewer and the signing order."""
    from django.db import transaction

    from agreements import services
    from agreements.models import Agreement, AgreementVersion
    from workflow import services as workflow_services

    officer = people["officer"]
    agreement = services.agreement_create(
        actor=officer,
        subject=f"Patto territoriale n. {number}",
        kind=Agreement.Kind.PATTO_TERRITORIALE,
    )
    for organisation, user in members:
        party = services.agreement_add_party(
            actor=officer, agreement=agreement, organisation=organisation
        )
        services.agreement_add_signatory(
            actor=officer,
            agreement=agreement,
            party=party,
            user=user,
            title="Legale rappresentante",
            authorising_act=f"Delibera n. {number}/2026",
        )
    digest = hashlib.sha256(f"v1 of {number}".encode()).hexdigest()
    with transaction.atomic(durable=True):
        locked = services._lock(agreement)
        services.create_version(
            actor=officer,
            agreement=locked,
            document=services.StoredDocument(
                f"docx/{digest}.docx", digest, f"pdf/{digest}.pdf", digest
            ),
            source=AgreementVersion.Source.UPLOAD,
        )
    workflow_services.reviewer_name(actor=officer, agreement=agreement, user=people["reviewer"])
    if order != "parallel":
        stages = None
        if order == "staged":
            parties = list(agreement.parties.order_by("position"))
            third = max(1, len(parties) // 3)
            stages = [parties[:third], parties[third:-1], parties[-1:]]
        workflow_services.signing_order_set(
            actor=officer, agreement=agreement, order=order, stages=stages
        )
    return agreement


# What the services do around the hooks, minus the documents -----------------------------------


def start(agreement, actor):
    from django.db import transaction

    from agreements.services import _lock
    from workflow import hooks

    with transaction.atomic(durable=True):
        hooks.agreement_created(agreement=_lock(agreement), actor=actor)


def fire(agreement, name: str, actor):
    from django.db import transaction

    from agreements.services import _lock
    from workflow import hooks

    with transaction.atomic(durable=True):
        locked = _lock(agreement)
        getattr(locked, name)()
        locked.save(update_fields=["state", "approved_version", "updated_at"])
        hooks.agreement_transitioned(agreement=locked, name=name, actor=actor, event=None)


def record_signature(agreement, signatory, *, last: bool, captured=None):
    """One signature: its rows, the workflow hook and, after the last one, complete_signing
    (whose guard reads the signature rows, as in the signing service)."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from agreements.services import _lock
    from signing.models import Signature, SignatureValidation
    from workflow import hooks

    digest = hashlib.sha256(f"{agreement.pk}/{signatory.pk}".encode()).hexdigest()
    with transaction.atomic(durable=True):
        locked = _lock(agreement)
        signature = Signature.objects.create(
            signatory=signatory,
            indication=Signature.Indication.PASSED,
            method=Signature.Method.PKCS12,
            field_name=f"Firma_{signatory.pk}",
            pdf_sha256=digest,
        )
        SignatureValidation.objects.create(
            signature=signature,
            indication=Signature.Indication.PASSED,
            pdf_sha256=digest,
            actor=signatory.user,
        )
        if captured is not None:
            with CaptureQueriesContext(connection) as queries:
                hooks.signature_recorded(
                    agreement=locked, signature=signature, actor=signatory.user
                )
            captured.append(len(queries.captured_queries))
        else:
            hooks.signature_recorded(agreement=locked, signature=signature, actor=signatory.user)
        if last:
            locked.complete_signing()
            locked.save(update_fields=["state", "approved_version", "updated_at"])
            hooks.agreement_transitioned(
                agreement=locked, name="complete_signing", actor=None, event=None
            )


def run_process(agreement, people, *, captured=None) -> None:
    from agreements.models import Signatory

    start(agreement, people["officer"])
    fire(agreement, "submit_for_review", people["officer"])
    fire(agreement, "approve", people["reviewer"])
    signatories = list(
        Signatory.objects.filter(party__agreement=agreement)
        .select_related("user")
        .order_by("party__position", "position")
    )
    for index, signatory in enumerate(signatories, start=1):
        record_signature(agreement, signatory, last=index == len(signatories), captured=captured)
    fire(agreement, "register", people["registrar"])


def queries_per_completion(people, members, order: str, sizes) -> list[tuple[int, list[int]]]:
    """SQL statements of the workflow hook that completes a signing task, per signature, on a
    fresh agreement of each size (in the timed order)."""
    rows = []
    for size in sizes:
        agreement = build_agreement(next(_counter) + 10_000, people, members[:size], order)
        captured: list[int] = []
        run_process(agreement, people, captured=captured)
        rows.append((size, captured))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=40, help="timed processes (default 40)")
    parser.add_argument("--signatories", type=int, default=15, help="per agreement (default 15)")
    parser.add_argument("--order", choices=["parallel", "sequential", "staged"], default="parallel")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    import os

    url = args.database_url or os.environ.get("DATABASE_URL")
    if not url or _setup.vendor_of(url) != "postgresql":
        _setup.fail(
            "this benchmark measures PostgreSQL; set DATABASE_URL to a PostgreSQL database, e.g. "
            f"DATABASE_URL={_setup.DEFAULT_POSTGRES_URL}"
        )
    _setup.fresh_database(url)
    return run(args)


def run(args) -> int:
    from django.core import mail
    from viewflow.workflow.models import Process, Task

    from audit.models import AuditEvent
    from audit.selectors import verify_chain

    print(f"machine: {_setup.machine()}")
    started = time.perf_counter()
    people, members = build_people(max(args.signatories, 30))
    chosen = members[: args.signatories]
    agreements = [
        build_agreement(n, people, chosen, args.order)
        for n in range(1, args.warmup + args.processes + 1)
    ]
    warmup, timed = agreements[: args.warmup], agreements[args.warmup :]
    print(
        f"set-up: {len(agreements)} agreements with {args.signatories} parties and signatories "
        f"each ({args.order} signing), through the services, in "
        f"{time.perf_counter() - started:.1f} s"
    )
    for agreement in warmup:
        run_process(agreement, people)

    events_before = AuditEvent.objects.count()
    tasks_before = Task.objects.count()
    mail.outbox = []
    started = time.perf_counter()
    for agreement in timed:
        run_process(agreement, people)
    seconds = time.perf_counter() - started
    human_tasks = Task.objects.filter(deadline__isnull=False).count()
    events = AuditEvent.objects.count() - events_before
    transactions = len(timed) * (4 + args.signatories)
    print()
    print(
        f"{len(timed)} full processes ({Task.objects.count() - tasks_before:,} viewflow tasks, "
        f"{events:,} audit events, {len(mail.outbox):,} e-mails composed after commit) in "
        f"{seconds:.2f} s"
    )
    print(
        f"processes per minute: {60 * len(timed) / seconds:,.0f}  "
        f"({1000 * seconds / len(timed):.0f} ms per process, "
        f"{1000 * seconds / transactions:.2f} ms per step, {transactions:,} steps)"
    )

    # Queries per completion: the same on small and large agreements, and with many processes
    # already in the database (the timed ones above).
    sizes = sorted({5, args.signatories, 30})
    print()
    print("SQL statements of the hook completing a signing task (signature_recorded), per")
    print("signature: statements (number of signatures with that count), in signing order:")
    print("| signatories | statements per signature |")
    print("|---:|---|")
    for size, counts in queries_per_completion(people, members, args.order, sizes):
        runs = [(count, len(list(group))) for count, group in itertools.groupby(counts)]
        print(f"| {size} | {', '.join(f'{count} ({times}x)' for count, times in runs)} |")
    print(
        f"(database then holds {Process.objects.count():,} processes, {human_tasks:,}+ human tasks)"
    )

    finished = Process.objects.filter(status="DONE").count()
    status = verify_chain()
    print()
    print(
        f"audit chain {'OK' if status.ok else 'BROKEN'}: {status.count:,} events; "
        f"processes finished: {finished}"
    )
    expected = args.warmup + args.processes + len(sizes)
    if finished != expected:
        print(f"error: {finished} processes finished, expected {expected}")
        return 1
    return 0 if status.ok else 1


if __name__ == "__main__":
    sys.exit(main())
