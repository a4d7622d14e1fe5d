"""The engine moves a process for the common transitions without viewflow's activations
(workflow.engine.DIRECT_MOVES). The rows it writes must be those viewflow writes: the same tasks
with the same statuses, owners, tokens, data, seeds, timestamps set and links to their previous
tasks, the same deadlines, process data, audit events and e-mails. Each scenario runs twice, on
two agreements built alike, once each way, and the two records are compared.

Switching DIRECT_MOVES off is not a mock: it runs viewflow's own machinery, the reference the
direct moves must reproduce.
"""

import re

import pytest
from django.core import mail
from viewflow.workflow.status import STATUS

from agreements import services as agreement_services
from agreements.models import Agreement, Signatory
from audit.models import AuditEvent
from tests.factories import make_organisation, make_user, sample_docx
from tests.workflow.conftest import all_compliant
from workflow import engine
from workflow import services as workflow_services
from workflow.models import AgreementTask, AgreementWorkflow, Reviewer, TaskDeadline

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    officer = make_user("officer", "legal_officer", first_name="Laura", last_name="Bianchi")
    return {
        "officer": officer,
        "reviewer": make_user("reviewer", "reviewer", first_name="Rita", last_name="Verdi"),
        "verdi": make_user("rev.verdi", "reviewer", first_name="Rita", last_name="Verdi"),
        "neri": make_user("rev.neri", "reviewer", first_name="Nadia", last_name="Neri"),
        "parties": [
            (
                make_organisation(f"Comune {n}", members=[user]),
                user,
            )
            for n, user in enumerate(
                [
                    make_user(f"firm.{n}", "signatory", last_name=f"Firmatario {n}")
                    for n in (1, 2, 3)
                ],
                start=1,
            )
        ],
    }


def build(people, *, reviewers=(), order=None):
    officer = people["officer"]
    agreement = agreement_services.agreement_create(
        actor=officer, subject="Patto per l'Inclusione Sociale", kind=Agreement.Kind.CONVENZIONE
    )
    for organisation, user in people["parties"]:
        party = agreement_services.agreement_add_party(
            actor=officer, agreement=agreement, organisation=organisation
        )
        agreement_services.agreement_add_signatory(
            actor=officer,
            agreement=agreement,
            party=party,
            user=user,
            title="Legale rappresentante",
            authorising_act="Delibera n. 1/2026",
        )
    agreement_services.version_create(
        actor=officer, agreement=agreement, docx=sample_docx(), note="Prima stesura"
    )
    for name in reviewers:
        workflow_services.reviewer_name(actor=officer, agreement=agreement, user=people[name])
    if order:
        workflow_services.signing_order_set(actor=officer, agreement=agreement, order=order)
    agreement.refresh_from_db()
    return agreement


def transition(name, who, reason=""):
    def step(agreement, people):
        service = agreement_services.TRANSITION_SERVICES[name]
        service(actor=people[who], agreement=agreement, reason=reason)

    step.__name__ = f"{name} by {who}"
    return step


def review(who, decision, reason=""):
    def step(agreement, people):
        workflow_services.review_submit(
            actor=people[who],
            agreement=agreement,
            outcomes=all_compliant(agreement),
            decision=decision,
            reason=reason,
        )

    step.__name__ = f"review {decision} by {who}"
    return step


class Ids:
    """Gives the ids of one agreement's rows names that do not depend on the run."""

    def __init__(self, agreement):
        self.names = {("agreement", agreement.pk): "A"}
        workflow = AgreementWorkflow.objects.get(agreement=agreement)
        self.names[("process", workflow.process_id)] = "P"
        tasks = AgreementTask.objects.filter(process_id=workflow.process_id).order_by("pk")
        for n, pk in enumerate(tasks.values_list("pk", flat=True)):
            self.names[("task", pk)] = f"t{n}"
        signatories = Signatory.objects.filter(party__agreement=agreement).order_by("pk")
        for n, pk in enumerate(signatories.values_list("pk", flat=True)):
            self.names[("signatory", pk)] = f"s{n}"
        for n, pk in enumerate(
            Reviewer.objects.filter(agreement=agreement).order_by("pk").values_list("pk", flat=True)
        ):
            self.names[("reviewer", pk)] = f"r{n}"

    def __call__(self, kind, pk):
        if kind == "report":
            return "report"
        return self.names.get((kind, pk), pk) if pk is not None else None

    def token(self, token: str) -> str:
        return re.sub(r"/(\d+)_", lambda m: f"/{self('task', int(m.group(1)))}_", token)

    def data(self, value, key=None):
        if isinstance(value, dict):
            return {k: self.data(v, k) for k, v in sorted(value.items())}
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if key in ("task", "process", "signatory", "reviewer", "agreement", "review"):
            return self(key, value) if key != "review" else "report"
        if key in ("due", "signature"):
            return value is not None
        return value


OBJECT_KINDS = {
    "agreements.agreement": "agreement",
    "workflow.agreementprocess": "process",
    "workflow.agreementtask": "task",
    "workflow.reviewreport": "report",
}


def record(agreement, first_seq):
    """Everything the moves wrote for ``agreement``, with run-specific ids replaced."""
    ids = Ids(agreement)
    workflow = AgreementWorkflow.objects.select_related("process").get(agreement=agreement)
    process = workflow.process
    tasks = []
    for task in AgreementTask.objects.filter(process=process).order_by("pk"):
        assert task.created is not None
        tasks.append(
            {
                "task": ids("task", task.pk),
                "node": task.flow_task.name,
                "type": task.flow_task_type,
                "status": task.status,
                "owner": task.owner.username if task.owner_id else None,
                "token": ids.token(task.token.token),
                "data": ids.data(task.data),
                "seed": (
                    task.seed_content_type.model if task.seed_content_type_id else None,
                    ids(task.seed_content_type.model, task.seed_object_id)
                    if task.seed_content_type_id
                    else None,
                ),
                "assigned": task.assigned is not None,
                "started": task.started is not None,
                "finished": task.finished is not None,
                "permission": (task.owner_permission, task.owner_permission_obj_pk),
                "artifact": (task.artifact_content_type_id, task.artifact_object_id),
                "scheduled": task.scheduled,
                "external": task.external_task_id,
                "previous": sorted(ids("task", p.pk) for p in task.previous.all()),
            }
        )
    deadlines = [
        (ids("task", d.task_id), ids("agreement", d.agreement_id), d.phase, d.due_at is not None)
        for d in TaskDeadline.objects.filter(task__process=process).order_by("task_id")
    ]
    events = [
        {
            "action": e.action,
            "actor": e.actor_username,
            "role": e.actor_role,
            "object": (e.object_type, ids(OBJECT_KINDS.get(e.object_type), int(e.object_id))),
            "payload": ids.data(e.payload_data),
            "reason": e.reason,
            "documents": len(e.document_list),
        }
        for e in AuditEvent.objects.filter(agreement_id=agreement.pk, seq__gte=first_seq)
        .exclude(object_type="signing.signingdocument")
        .order_by("seq")
    ]
    return {
        "process": (process.status, process.finished is not None, ids.data(process.data)),
        "tasks": tasks,
        "deadlines": deadlines,
        "events": events,
    }


def run(people, steps, capture, *, direct, **options):
    engine.DIRECT_MOVES = direct
    try:
        agreement = build(people, **options)
        first_seq = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first() + 1
        mails = []
        for step in steps:
            mail.outbox = []
            with capture(execute=True):
                step(agreement, people)
            mails.append(
                sorted((m.to[0], m.subject.replace(str(agreement.pk), "A")) for m in mail.outbox)
            )
        return record(agreement, first_seq), mails
    finally:
        engine.DIRECT_MOVES = True


def assert_same(people, steps, capture, **options):
    viewflow = run(people, steps, capture, direct=False, **options)
    direct = run(people, steps, capture, direct=True, **options)
    for key in ("process", "tasks", "deadlines", "events"):
        assert direct[0][key] == viewflow[0][key], key
    assert direct[1] == viewflow[1]
    return direct[0]


CYCLE = [
    transition("open_negotiation", "officer"),
    transition("submit_for_review", "officer"),
    transition("request_changes", "reviewer", "Precisare gli oneri."),
    transition("submit_for_review", "officer"),
    transition("approve", "reviewer"),
]


def test_the_lifecycle_cycle_writes_what_viewflow_writes(
    people, django_capture_on_commit_callbacks
):
    """The benchmark's cycle: a review any independent reviewer may take, claimed by the act."""
    result = assert_same(people, CYCLE, django_capture_on_commit_callbacks)
    # Three signatories in parallel: three signing tasks, each a branch of the split.
    signing = [t for t in result["tasks"] if t["node"] == "sign"]
    assert [t["owner"] for t in signing] == ["firm.1", "firm.2", "firm.3"]
    split = next(t for t in result["tasks"] if t["node"] == "signing_split")
    assert [t["token"] for t in signing] == [f"start/{split['task']}_{n}" for n in (1, 2, 3)]
    assert all(t["previous"] == [split["task"]] for t in signing)


def test_named_reviewers_and_a_sequential_signing_order_write_what_viewflow_writes(
    people, django_capture_on_commit_callbacks
):
    """Straight from draft to review, two named reviewers in parallel, changes requested by one
    (the other's review is cancelled), a new round, two approvals (the second goes through
    viewflow: the join already has a task), then only the first signatory's task."""
    steps = [
        transition("submit_for_review", "officer"),
        review("verdi", "request_changes", "Manca la copertura finanziaria."),
        transition("submit_for_review", "officer"),
        review("verdi", "approve"),
        review("neri", "approve"),
    ]
    result = assert_same(
        people,
        steps,
        django_capture_on_commit_callbacks,
        reviewers=("verdi", "neri"),
        order="sequential",
    )
    statuses = [
        (t["node"], t["owner"], t["status"]) for t in result["tasks"] if t["node"] == "review"
    ]
    assert statuses == [
        ("review", "rev.verdi", STATUS.DONE),
        ("review", "rev.neri", STATUS.CANCELED),
        ("review", "rev.verdi", STATUS.DONE),
        ("review", "rev.neri", STATUS.DONE),
    ]
    assert [(t["owner"], t["status"]) for t in result["tasks"] if t["node"] == "sign"] == [
        ("firm.1", STATUS.ASSIGNED)
    ]


def test_a_move_viewflow_must_make_is_left_to_viewflow(people, django_capture_on_commit_callbacks):
    """Withdrawal ends the process: the engine does not move it directly, and the result is
    viewflow's (every task cancelled, the process cancelled)."""
    steps = [
        transition("open_negotiation", "officer"),
        transition("submit_for_review", "officer"),
        transition("withdraw", "officer", "Le parti hanno rinunciato."),
    ]
    result = assert_same(people, steps, django_capture_on_commit_callbacks)
    assert result["process"][0] == "CANCELED"
    assert {t["status"] for t in result["tasks"] if t["node"] == "review"} == {STATUS.CANCELED}
