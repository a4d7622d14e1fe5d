"""Deadlines (reminder before, escalation after), the inbox across agreements, and where a
process stands (with viewflow's diagram)."""

import datetime
import io

import pytest
from django.core import mail
from django.core.management import call_command

from agreements import services as agreement_services
from audit.models import AuditAction
from stipula.celery import app as celery_app
from tests.factories import events_for
from tests.workflow.conftest import all_compliant, build_agreement
from workflow import services as workflow_services
from workflow import tasks as workflow_tasks
from workflow.deadlines import run_deadlines
from workflow.models import AgreementTask
from workflow.selectors import open_tasks_for, process_chart_svg, process_position

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def review_tasks(agreement):
    return [
        t
        for t in AgreementTask.objects.filter(deadline__agreement=agreement).order_by("pk")
        if t.flow_task.name == "review"
    ]


def test_reminder_before_the_due_date_escalation_after(
    officer, reviewers, django_capture_on_commit_callbacks
):
    workflow_services.preferences_set_language(actor=officer, user=officer, language="en")
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    first, second = review_tasks(agreement)
    due = first.deadline.due_at
    # settings: review tasks are due in 10 days, reminded 2 days before.
    assert due - first.created == pytest.approx(10 * DAY, abs=datetime.timedelta(seconds=5))

    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        assert run_deadlines(now=due - 3 * DAY) == (0, 0)
    assert mail.outbox == []

    # The first reviewer does their review; only the other one is reminded.
    workflow_services.review_submit(
        actor=reviewers[0],
        agreement=agreement,
        outcomes=all_compliant(agreement),
        decision="approve",
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = run_deadlines(now=due - DAY)
    assert (result.reminded, result.escalated) == (1, 0)
    [reminder] = mail.outbox
    assert reminder.to == [reviewers[1].email]
    assert reminder.extra_headers["Content-Language"] == "it"
    assert "Revisione legale" in reminder.subject
    [reminded] = events_for(agreement, AuditAction.TASK_REMINDED)
    assert (reminded.object_id, reminded.actor_role) == (str(second.pk), "system")

    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        assert run_deadlines(now=due - DAY / 2) == (0, 0)  # reminded once only
        result = run_deadlines(now=due + DAY)
    assert (result.reminded, result.escalated) == (0, 1)
    [escalation] = mail.outbox
    assert escalation.to == [officer.email]
    assert escalation.extra_headers["Content-Language"] == "en"
    assert escalation.subject.startswith("[Stipula] Overdue: Legal review")
    assert "assigned to Nadia Neri" in escalation.body
    [escalated] = events_for(agreement, AuditAction.TASK_ESCALATED)
    assert escalated.payload_data["escalated_to"] == "officer"
    assert escalated.payload_data["owner"] == "rev.neri"

    with django_capture_on_commit_callbacks(execute=True):
        assert run_deadlines(now=due + 2 * DAY) == (0, 0)  # escalated once only


def test_the_job_runs_as_a_command_and_as_a_celery_task(officer, reviewers, request):
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    [task] = review_tasks(agreement)
    due = task.deadline.due_at

    out = io.StringIO()
    call_command("workflow_deadlines", "--now", (due - DAY).isoformat(), stdout=out)
    assert out.getvalue().strip() == "reminded 1, escalated 0"

    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(celery_app.conf, "task_always_eager", eager))
    # Now (the real clock) nothing is due: the task ran, found nothing.
    assert workflow_tasks.run_deadlines.delay().get() == {"reminded": 0, "escalated": 0}


def test_an_unassigned_review_is_recalled_to_every_independent_reviewer(
    officer, reviewers, django_capture_on_commit_callbacks
):
    agreement, _signatories = build_agreement(officer, parties=2)
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    [task] = review_tasks(agreement)
    mail.outbox = []
    with django_capture_on_commit_callbacks(execute=True):
        run_deadlines(now=task.deadline.due_at - DAY)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in reviewers)


def test_inbox_across_agreements_soonest_first(officer, reviewers, settings):
    reviewer = reviewers[0]
    settings.STIPULA_WORKFLOW_DEADLINES = dict(settings.STIPULA_WORKFLOW_DEADLINES, review=5)
    soon, _s = build_agreement(officer, parties=2, reviewers=[reviewer], subject="Convenzione A")
    agreement_services.agreement_submit_for_review(actor=officer, agreement=soon)
    settings.STIPULA_WORKFLOW_DEADLINES = dict(settings.STIPULA_WORKFLOW_DEADLINES, review=20)
    later, _s = build_agreement(officer, parties=2, reviewers=[reviewer], subject="Convenzione B")
    agreement_services.agreement_submit_for_review(actor=officer, agreement=later)
    unnamed, _s = build_agreement(officer, parties=2, subject="Convenzione C")
    agreement_services.agreement_submit_for_review(actor=officer, agreement=unnamed)
    drafting, _s = build_agreement(officer, parties=2, subject="Convenzione D")
    agreement_services.agreement_open_negotiation(actor=officer, agreement=drafting)

    inbox = open_tasks_for(reviewer)
    assert [(i.agreement_subject, i.node, i.claimable) for i in inbox] == [
        ("Convenzione A", "review", False),
        ("Convenzione B", "review", False),
        ("Convenzione C", "review", True),
    ]
    assert inbox[0].due_at < inbox[1].due_at
    assert inbox[0].title == "Legal review" and inbox[0].phase == "review"
    overdue = open_tasks_for(reviewer, now=inbox[0].due_at + DAY)
    assert [i.overdue for i in overdue] == [True, False, False]

    officer_inbox = open_tasks_for(officer)
    assert [(i.agreement_subject, i.node) for i in officer_inbox] == [
        ("Convenzione D", "negotiation")
    ]
    # The officer also has the reviewer role: still never offered a review of their own drafts.
    officer.groups.add(reviewer.groups.get())
    officer._stipula_roles = None
    assert [i.node for i in open_tasks_for(officer)] == ["negotiation"]


def test_process_position_and_diagram(officer, reviewers):
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers)
    # The process starts with the agreement, at the legal officer's drafting.
    assert process_position(agreement).current == ["draft"]
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    workflow_services.review_submit(
        actor=reviewers[0],
        agreement=agreement,
        outcomes=all_compliant(agreement),
        decision="approve",
    )

    position = process_position(agreement)
    assert position.status == "NEW" and position.current == ["review"]
    assert [(t.owner, t.status) for t in position.open_tasks] == [("Nadia Neri", "ASSIGNED")]
    assert [(t.owner, t.outcome) for t in position.history] == [
        ("Laura Bianchi", "submit_for_review"),
        ("Rita Verdi", "approve"),
    ]
    nodes = {name: status for name, _title, status in position.nodes}
    assert nodes["review"] == "ASSIGNED" and nodes["review_split"] == "DONE"
    assert nodes["sign"] is None

    svg = process_chart_svg(agreement)
    assert svg.lstrip().startswith("<svg")
    assert '<g id="review" transform=' in svg
    assert 'class="started"' in svg.split('<g id="review"', 1)[1].split(">", 1)[0]
    assert 'class="done"' in svg.split('<g id="review_split"', 1)[1].split(">", 1)[0]
    assert "Sign The Agreement" in process_chart_svg()
