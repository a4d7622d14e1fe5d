"""Throughput of agreement lifecycle transitions through the real services, on PostgreSQL.

Each transition is what a user's click does: a durable transaction that locks the agreement row,
checks the permission and the guards, fires the FSM transition, appends the hash-chained audit
event (locking the chain head) and, after the commit, composes the notification e-mails (kept in
memory). The baseline, in the same process and on the same database, is the same number of plain
ORM inserts of one small row (auth.Group), each in its own durable transaction: the cost of a
commit, which every transition pays once too.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stipula_bench \\
        .venv/bin/python bench/lifecycle.py [--agreements 400]

The database named in DATABASE_URL is dropped and recreated (its name must contain "bench").
"""

import argparse
import io
import os
import shutil
import sys
import tempfile
import time

import _setup

TARGET_TRANSITIONS_PER_SECOND = 300
TARGET_RATIO = 3.0

# The cycle each agreement goes through: (service name, acting user, reason).
CYCLE = [
    ("open_negotiation", "officer", ""),
    ("submit_for_review", "officer", ""),
    ("request_changes", "reviewer", "Precisare all'art. 4 la ripartizione degli oneri."),
    ("submit_for_review", "officer", ""),
    ("approve", "reviewer", ""),
]
STATE_BEFORE = {
    "open_negotiation": "draft",
    "submit_for_review": None,  # from draft or negotiation; the cycle always comes from negotiation
    "request_changes": "legal_review",
    "approve": "legal_review",
}


def small_docx(subject: str) -> bytes:
    from docx import Document

    document = Document()
    document.add_heading(subject, level=0)
    document.add_heading("Art. 1 - Oggetto", level=1)
    document.add_paragraph(
        "Le parti si impegnano a collaborare per la gestione associata dei servizi indicati "
        "nell'allegato, nel rispetto dell'art. 15 della legge 7 agosto 1990, n. 241."
    )
    document.add_heading("Art. 2 - Durata", level=1)
    document.add_paragraph("La presente convenzione ha durata triennale dalla sottoscrizione.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_user(username: str, role: str, first_name: str, last_name: str):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    user = get_user_model().objects.create_user(
        username=username,
        email=f"{username}@example.org",
        password=None,  # no login here, and PBKDF2 would dominate the set-up
        first_name=first_name,
        last_name=last_name,
    )
    user.groups.add(Group.objects.get(name=role))
    return user


def build_people():
    """Users and organisations, through the services where the project has one."""
    from agreements import services
    from agreements.models import Organisation

    people = {
        "officer": make_user("avv.rossi", "legal_officer", "Laura", "Rossi"),
        "reviewer": make_user("dott.bianchi", "reviewer", "Rita", "Bianchi"),
        "mayor": make_user("sindaco.forli", "signatory", "Nicolò", "Ferraù"),
        "president": make_user("presidente.rer", "signatory", "Anna", "Verdi"),
    }
    organisations = []
    for name, fiscal_code, ipa, member in [
        ("Comune di Forlì", "00606620409", "c_d704", "mayor"),
        ("Regione Emilia-Romagna", "80062590379", "r_emiro", "president"),
    ]:
        organisation = services.organisation_create(
            actor=None,
            name=name,
            kind=Organisation.Kind.PUBLIC_BODY,
            fiscal_code=fiscal_code,
            ipa_code=ipa,
        )
        services.organisation_add_member(
            actor=None,
            organisation=organisation,
            user=people[member],
            title="Legale rappresentante",
        )
        organisations.append((organisation, people[member]))
    return people, organisations


def build_agreement(number: int, people, organisations, docx: bytes):
    """One agreement in draft with two parties, a signatory each and a version of the text."""
    from agreements import services
    from agreements.models import Agreement

    officer = people["officer"]
    agreement = services.agreement_create(
        actor=officer,
        subject=f"Convenzione n. {number} per la gestione associata dei servizi sociali",
        kind=Agreement.Kind.CONVENZIONE,
    )
    for organisation, signatory in organisations:
        party = services.agreement_add_party(
            actor=officer, agreement=agreement, organisation=organisation
        )
        services.agreement_add_signatory(
            actor=officer,
            agreement=agreement,
            party=party,
            user=signatory,
            title="Legale rappresentante",
            authorising_act=f"Delibera di Giunta n. {number}/2026",
        )
    services.version_create(actor=officer, agreement=agreement, docx=docx, note="Prima stesura")
    return agreement


def run_cycle_step(step, agreements, people) -> float:
    """Fire one step of the cycle on every agreement; return the seconds it took."""
    from agreements.services import TRANSITION_SERVICES

    name, who, reason = step
    service = TRANSITION_SERVICES[name]
    actor = people[who]
    expected = STATE_BEFORE[name] or "negotiation"
    started = time.perf_counter()
    for agreement in agreements:
        service(actor=actor, agreement=agreement, expected_state=expected, reason=reason)
    return time.perf_counter() - started


def queries_per_step(agreement, people) -> list[tuple[str, int]]:
    """Fire the cycle once on one (warm-up) agreement, counting the SQL statements of each step."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for step in CYCLE:
        with CaptureQueriesContext(connection) as captured:
            run_cycle_step(step, [agreement], people)
        counts.append((step[0], len(captured.captured_queries)))
    return counts


def baseline(count: int, label: str) -> float:
    """Plain ORM inserts of one small row, each in its own durable transaction."""
    from django.contrib.auth.models import Group
    from django.db import transaction

    started = time.perf_counter()
    for i in range(count):
        with transaction.atomic(durable=True):
            Group.objects.create(name=f"bench-{label}-{i}")
    return time.perf_counter() - started


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--agreements",
        type=int,
        default=400,
        help=f"agreements taken through the {len(CYCLE)}-transition cycle (default 400)",
    )
    parser.add_argument(
        "--warmup", type=int, default=10, help="agreements cycled before timing (default 10)"
    )
    parser.add_argument(
        "--skip-notifications",
        action="store_true",
        help="diagnostic: replace the after-commit e-mail composition with a no-op, to show its "
        "share of the time (the headline figure includes it)",
    )
    parser.add_argument(
        "--profile", action="store_true", help="diagnostic: print a cProfile of the timed steps"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL", ""),
        help="PostgreSQL database whose name contains 'bench'; dropped and recreated "
        "(default: $DATABASE_URL)",
    )
    args = parser.parse_args(argv)
    if args.agreements < 1 or args.warmup < 1:
        _setup.fail("--agreements and --warmup must be at least 1")
    if not args.database_url or _setup.vendor_of(args.database_url) != "postgresql":
        _setup.fail(
            "this benchmark measures row locks and commits on PostgreSQL; set DATABASE_URL to a "
            f"PostgreSQL database, e.g. DATABASE_URL={_setup.DEFAULT_POSTGRES_URL} "
            f"(got {args.database_url or 'nothing: the project would use SQLite'})"
        )
    media = tempfile.mkdtemp(prefix="stipula-bench-")
    os.environ["STIPULA_DATA_DIR"] = media  # the DOCX files of the versions go here
    try:
        _setup.fresh_database(args.database_url)
        from templates_docx.conversion import WarmConverter

        # The set-up converts one DOCX per agreement: a warm LibreOffice makes that quick.
        with WarmConverter() as converter:
            os.environ["STIPULA_CONVERTER"] = "warm"
            from django.conf import settings

            settings.STIPULA_CONVERTER = "warm"
            settings.STIPULA_CONVERTER_SOCKET = str(converter.socket_path)
            return run(args)
    finally:
        shutil.rmtree(media, ignore_errors=True)


def run(args) -> int:
    print(f"machine: {_setup.machine()}")

    from django.core import mail

    from agreements import notifications
    from audit.models import AuditEvent
    from audit.selectors import verify_chain

    started = time.perf_counter()
    people, organisations = build_people()
    docx = small_docx("Convenzione per la gestione associata dei servizi sociali")
    total = args.warmup + args.agreements
    agreements = [build_agreement(n, people, organisations, docx) for n in range(1, total + 1)]
    warmup, timed = agreements[: args.warmup], agreements[args.warmup :]
    print(
        f"set-up: {len(agreements)} agreements with 2 parties, 2 signatories and a DOCX version "
        f"each, through the services, in {time.perf_counter() - started:.1f} s"
    )

    queries = queries_per_step(warmup[0], people)
    for step in CYCLE:
        run_cycle_step(step, warmup[1:], people)
    transitions = len(timed) * len(CYCLE)
    baseline(min(200, transitions), "warmup")  # warm the baseline's code path too

    if args.skip_notifications:
        # The services queue functools.partial(notifications.notify_transition, ...) on commit,
        # looking the function up on the module each time.
        notifications.notify_transition = lambda **kwargs: None
        print("diagnostic run: after-commit e-mail composition replaced by a no-op")
    events_before = AuditEvent.objects.count()
    # The transition's own event; the process (workflow.*) and the PDF to sign composed at
    # approval (signing.*) write theirs too.
    own_events = AuditEvent.objects.exclude(action__startswith="workflow.").exclude(
        action__startswith="signing."
    )
    own_before = own_events.count()
    mail.outbox = []
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
    step_seconds = [(step, run_cycle_step(step, timed, people)) for step in CYCLE]
    if args.profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    service_seconds = sum(seconds for _, seconds in step_seconds)
    events_written = AuditEvent.objects.count() - events_before
    own_written = own_events.count() - own_before
    mails = len(mail.outbox)
    baseline_seconds = baseline(transitions, "baseline")

    print()
    print(f"| transition | SQL statements | transitions/s (n={len(timed)}) |")
    print("|---|---:|---:|")
    for (step, seconds), (_, count) in zip(step_seconds, queries, strict=True):
        print(f"| {step[0]} ({step[1]}) | {count} | {len(timed) / seconds:,.0f} |")
    print()
    service_rate = transitions / service_seconds
    baseline_rate = transitions / baseline_seconds
    ratio = service_seconds / baseline_seconds
    print(
        f"services: {transitions:,} transitions ({events_written:,} audit events, "
        f"{mails:,} e-mails composed after commit) in {service_seconds:.2f} s: "
        f"{service_rate:,.0f} transitions/s, {1000 * service_seconds / transitions:.2f} ms each"
    )
    print(
        f"baseline: {transitions:,} Group.objects.create(), one durable transaction each, in "
        f"{baseline_seconds:.2f} s: {baseline_rate:,.0f} inserts/s, "
        f"{1000 * baseline_seconds / transitions:.2f} ms each"
    )
    print(f"ratio (service time / baseline time): {ratio:.2f}x")

    started = time.perf_counter()
    status = verify_chain()
    verify_seconds = time.perf_counter() - started
    if status.ok:
        print(
            f"audit chain OK: {status.count:,} events verified in {verify_seconds:.2f} s, "
            f"head {status.head_hash}"
        )
    else:
        print(f"audit chain BROKEN at event {status.first_bad_seq}: {status.problem}")

    met_rate = service_rate >= TARGET_TRANSITIONS_PER_SECOND
    met_ratio = ratio <= TARGET_RATIO
    print()
    print(
        f"target >= {TARGET_TRANSITIONS_PER_SECOND} transitions/s: "
        f"{'met' if met_rate else 'NOT met'} ({service_rate:,.0f})"
    )
    print(
        f"target ratio <= {TARGET_RATIO:.0f}x: {'met' if met_ratio else 'NOT met'} ({ratio:.2f}x)"
    )
    if own_written != transitions:
        print(f"error: {transitions} transitions wrote {own_written} audit events of their own")
        return 1
    return 0 if status.ok else 1


if __name__ == "__main__":
    sys.exit(main())
