"""Throughput of agreement lifecycle transitions through the real services, on PostgreSQL.

Each transition is what a user's click does: a durable transaction that locks the agreement row,
checks the permission and the guards, fires the FSM transition, moves the agreement's viewflow
process (every agreement has one: the process is on, as shipped), appends the hash-chained audit
events (the transition's and the process's), and, after the commit, composes the notification
e-mails (kept in memory) as the shipped settings do; approval also composes the PDF to sign, in
its transaction. The script checks afterwards that every transition wrote its own event and
that every process reached the signing phase with one signing task per signatory. The baseline,
in the same process and on the same database, is the same number of plain ORM inserts of one
small row (auth.Group), each in its own durable transaction: the cost of a commit, which every
transition pays once too. It runs interleaved with the transitions (after every 50), so that
both see the same machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stipula_bench \\
        .venv/bin/python bench/lifecycle.py [--agreements 400] [--notify-async]

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


# The baseline runs after every CHUNK transitions, so that both see the same machine: other work
# on it comes and goes, and the ratio compares like with like.
CHUNK = 50


def timed_cycle(timed, people, profiler=None):
    """Take ``timed`` through the cycle, step by step, CHUNK agreements at a time, each chunk
    followed by as many baseline inserts; return the seconds and CPU seconds (this process) of
    each step, the seconds of the baseline and the number of e-mails composed.

    Django's in-memory e-mail backend keeps every message it "sends": they are counted and
    dropped after each chunk (thousands of kept messages would slow the garbage collector down,
    which a real backend does not)."""
    from django.core import mail

    step_seconds = [0.0] * len(CYCLE)
    step_cpu = [0.0] * len(CYCLE)
    baseline_seconds = 0.0
    mails = 0
    for index, step in enumerate(CYCLE):
        for start in range(0, len(timed), CHUNK):
            chunk = timed[start : start + CHUNK]
            cpu = time.process_time()
            if profiler is not None:
                profiler.enable()
            step_seconds[index] += run_cycle_step(step, chunk, people)
            if profiler is not None:
                profiler.disable()
            step_cpu[index] += time.process_time() - cpu
            mails += len(mail.outbox)
            mail.outbox = []
            baseline_seconds += baseline(len(chunk), f"{index}-{start}")
    return step_seconds, step_cpu, baseline_seconds, mails


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
        "--skip-signing-pdf",
        action="store_true",
        help="diagnostic: approve without composing the PDF to sign (which approval does in its "
        "transaction), to show its share of the time (the headline figure includes it)",
    )
    parser.add_argument(
        "--notify-async",
        action="store_true",
        help="run with STIPULA_NOTIFY_ASYNC on: each transaction hands its e-mail to Celery (one "
        "message on the Redis broker of --broker, emptied first); afterwards the messages are "
        "run in this process as the worker would run them, and timed apart",
    )
    parser.add_argument(
        "--broker",
        default="redis://127.0.0.1:6379/15",
        help="Celery broker for --notify-async (default: Redis database 15, emptied first)",
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
    if args.notify_async:
        os.environ["STIPULA_NOTIFY_ASYNC"] = "1"
        os.environ["CELERY_BROKER_URL"] = args.broker
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


def load() -> str:
    """The load average (1, 5, 15 minutes): other work on the machine skews the figures."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def processes_in_signing(agreements, people) -> int:
    """How many of ``agreements`` have a process whose open tasks are exactly one signing task
    per signatory (where the cycle leaves them); the others are printed."""
    from viewflow.workflow.status import STATUS

    from workflow.models import AgreementTask

    expected = sorted((people[who].pk, "sign") for who in ("mayor", "president"))
    found = {agreement.pk: [] for agreement in agreements}
    rows = AgreementTask.objects.filter(
        deadline__agreement_id__in=list(found), status__in=[STATUS.NEW, STATUS.ASSIGNED]
    ).values_list("deadline__agreement_id", "owner_id", "flow_task")
    for agreement_id, owner_id, node in rows:
        found[agreement_id].append((owner_id, node.name))
    wrong = {pk: sorted(tasks) for pk, tasks in found.items() if sorted(tasks) != expected}
    for pk, tasks in list(wrong.items())[:5]:
        print(f"error: agreement {pk} has open tasks {tasks}, expected {expected}")
    return len(agreements) - len(wrong)


def queued_messages(broker: str) -> list[bytes]:
    import redis

    client = redis.Redis.from_url(broker)
    messages = []
    while (raw := client.lpop("celery")) is not None:
        messages.append(raw)
    return messages


def run_as_worker(messages: list[bytes]) -> int:
    """Run queued Celery messages in this process, as the worker would: the same task code."""
    import base64
    import json

    from stipula.celery import app

    delivered = 0
    for raw in messages:
        envelope = json.loads(raw)
        args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
        delivered += app.tasks[envelope["headers"]["task"]].run(*args, **kwargs) or 0
    return delivered


def run(args) -> int:
    print(f"machine: {_setup.machine()}; load average {load()}")

    from django.conf import settings
    from django.core import mail

    from audit.models import AuditEvent
    from audit.selectors import verify_chain
    from workflow import notifications

    print(
        f"process: STIPULA_WORKFLOW_AUTOSTART={settings.STIPULA_WORKFLOW_AUTOSTART} (every "
        f"agreement has its process); e-mail: STIPULA_NOTIFY_ASYNC={settings.STIPULA_NOTIFY_ASYNC}"
        + (f" (broker {args.broker})" if args.notify_async else " (as shipped)")
    )
    if not settings.STIPULA_WORKFLOW_AUTOSTART:
        _setup.fail("the process must be on (STIPULA_WORKFLOW_AUTOSTART)")
    if args.notify_async:
        queued_messages(args.broker)  # start from an empty queue
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
    if args.notify_async:
        queued_messages(args.broker)

    if args.skip_notifications:
        # Every transaction hands its e-mail (the tasks' and the transition's) to
        # workflow.notifications.dispatch once it has committed, looked up on the module.
        notifications.dispatch = lambda mails: None
        print("diagnostic run: after-commit e-mail composition replaced by a no-op")
    if args.skip_signing_pdf:
        import signing.services

        # _transition imports signing.services.prepare_document when it approves.
        signing.services.prepare_document = lambda **kwargs: None
        print("diagnostic run: approval does not compose the PDF to sign")
    events_before = AuditEvent.objects.count()
    # The transition's own event; the process (workflow.*) and the PDF to sign composed at
    # approval (signing.*) write theirs too.
    own_events = AuditEvent.objects.exclude(action__startswith="workflow.").exclude(
        action__startswith="signing."
    )
    own_before = own_events.count()
    mail.outbox = []
    profiler = None
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
    step_seconds, step_cpu, baseline_seconds, mails = timed_cycle(timed, people, profiler)
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
    service_seconds = sum(step_seconds)
    events_written = AuditEvent.objects.count() - events_before
    own_written = own_events.count() - own_before
    in_signing = processes_in_signing(timed, people)

    print()
    print(
        f"| transition | SQL statements | transitions/s (n={len(timed)}) | ms each "
        "| of which CPU of this process |"
    )
    print("|---|---:|---:|---:|---:|")
    for step, seconds, cpu, (_, count) in zip(CYCLE, step_seconds, step_cpu, queries, strict=True):
        print(
            f"| {step[0]} ({step[1]}) | {count} | {len(timed) / seconds:,.0f} "
            f"| {1000 * seconds / len(timed):.2f} | {1000 * cpu / len(timed):.2f} |"
        )
    print()
    service_rate = transitions / service_seconds
    baseline_rate = transitions / baseline_seconds
    ratio = service_seconds / baseline_seconds
    handed = "e-mails composed after commit"
    if args.notify_async:
        messages = queued_messages(args.broker)
        handed = f"{len(messages):,} Celery messages for the e-mail"
    print(
        f"services: {transitions:,} transitions ({events_written:,} audit events, "
        + (f"{handed})" if args.notify_async else f"{mails:,} {handed})")
        + f" in {service_seconds:.2f} s: "
        f"{service_rate:,.0f} transitions/s, {1000 * service_seconds / transitions:.2f} ms each"
    )
    print(
        f"process: {in_signing} of {len(timed)} agreements in the signing phase with one signing "
        "task per signatory"
    )
    print(
        f"baseline: {transitions:,} Group.objects.create(), one durable transaction each, "
        f"interleaved with the transitions (after every {CHUNK}), in "
        f"{baseline_seconds:.2f} s: {baseline_rate:,.0f} inserts/s, "
        f"{1000 * baseline_seconds / transitions:.2f} ms each"
    )
    print(f"ratio (service time / baseline time): {ratio:.2f}x")
    if args.notify_async:
        mail.outbox = []
        started = time.perf_counter()
        sent = run_as_worker(messages)
        worker_seconds = time.perf_counter() - started
        print(
            f"worker (run afterwards, same task code): {len(messages):,} messages, {sent:,} "
            f"e-mails composed in {worker_seconds:.2f} s, "
            f"{1000 * worker_seconds / transitions:.2f} ms per transition"
        )

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
    print(f"load average at the end: {load()}")
    if own_written != transitions:
        print(f"error: {transitions} transitions wrote {own_written} audit events of their own")
        return 1
    if in_signing != len(timed):
        return 1
    return 0 if status.ok else 1


if __name__ == "__main__":
    sys.exit(main())
