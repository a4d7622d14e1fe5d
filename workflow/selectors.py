"""Reading the process for the pages: each user's inbox, where an agreement's process is (with
viewflow's chart), the review checklist and the reports."""

import datetime
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from viewflow.workflow import chart
from viewflow.workflow.status import STATUS

from agreements import policies
from agreements.models import AgreementVersion
from agreements.roles import Role, user_roles
from agreements.transitions import TRANSITIONS
from workflow import engine
from workflow.checklist import ChecklistItem, checklist_for
from workflow.flows import PHASE_OF_NODE, AgreementFlow
from workflow.models import (
    OPEN_STATUSES,
    AgreementTask,
    AgreementWorkflow,
    Reviewer,
    ReviewReport,
)


@dataclass(frozen=True)
class InboxItem:
    task_id: int
    process_id: int
    agreement_id: int
    agreement_subject: str
    node: str
    phase: str
    title: str
    status: str
    created: datetime.datetime
    due_at: datetime.datetime | None
    overdue: bool
    # An unassigned task this user may take (workflow.services.task_claim).
    claimable: bool
    data: dict


def _item(task, now, *, claimable: bool) -> InboxItem:
    deadline = task.deadline
    return InboxItem(
        task_id=task.pk,
        process_id=task.process_id,
        agreement_id=deadline.agreement_id,
        agreement_subject=deadline.agreement.subject,
        node=task.flow_task.name,
        phase=deadline.phase,
        title=str(task.flow_task.task_title),
        status=task.status,
        created=task.created,
        due_at=deadline.due_at,
        overdue=deadline.due_at is not None and deadline.due_at <= now,
        claimable=claimable,
        data=task.data,
    )


def open_tasks_for(user, *, now: datetime.datetime | None = None) -> list[InboxItem]:
    """The open tasks of ``user`` across agreements, soonest due first (no due date last), then
    the tasks nobody holds that they may take: reviews of agreements without named reviewers
    that they did not draft, registrations for registrars."""
    now = now or timezone.now()
    base = AgreementTask.objects.filter(status__in=OPEN_STATUSES, deadline__isnull=False)
    base = base.select_related("deadline__agreement").order_by("deadline__due_at", "created", "pk")
    mine = [_item(task, now, claimable=False) for task in base.filter(owner=user)]
    roles = user_roles(user)
    free = base.filter(owner__isnull=True, status=STATUS.NEW)
    takeable = Q(pk__in=[])
    if Role.REVIEWER.value in roles:
        drafted = AgreementVersion.objects.filter(
            agreement_id=OuterRef("deadline__agreement_id"), author=user
        )
        free = free.annotate(drafted=Exists(drafted))
        takeable |= Q(data__role=Role.REVIEWER.value, drafted=False) & ~Q(
            deadline__agreement__legal_officer=user
        )
    if Role.REGISTRAR.value in roles:
        takeable |= Q(data__role=Role.REGISTRAR.value)
    if roles & {Role.REVIEWER.value, Role.REGISTRAR.value}:
        mine += [_item(task, now, claimable=True) for task in free.filter(takeable)]
    return mine


@dataclass(frozen=True)
class TaskLine:
    task_id: int
    node: str
    title: str
    status: str
    owner: str
    created: datetime.datetime
    finished: datetime.datetime | None
    due_at: datetime.datetime | None
    outcome: str
    data: dict

    @property
    def outcome_label(self) -> str:
        """The outcome as a person reads it (the transition's or the decision's label)."""
        return str(outcome_label(self.outcome))


@dataclass(frozen=True)
class ProcessPosition:
    process_id: int
    status: str
    # Names of the nodes with an open task: where the process is now.
    current: list[str]
    open_tasks: list[TaskLine]
    history: list[TaskLine]
    # Every node of the flow, in chart order, with the status of its latest task (or None).
    nodes: list[tuple[str, str, str | None]]


# Outcomes that are not transitions of the agreement (workflow/engine.py, workflow/services.py).
_OUTCOME_LABELS = {
    "signed": _("signed"),
    "declined": _("declined to sign"),
    "resume": _("signing resumed"),
}


def outcome_label(outcome: str):
    if not outcome:
        return ""
    if outcome in TRANSITIONS:
        return TRANSITIONS[outcome].label
    return _OUTCOME_LABELS.get(outcome, outcome)


def _line(task) -> TaskLine:
    deadline = getattr(task, "deadline", None)
    return TaskLine(
        task_id=task.pk,
        node=task.flow_task.name,
        title=str(task.flow_task.task_title),
        status=task.status,
        owner=(task.owner.get_full_name() or task.owner.get_username()) if task.owner else "",
        created=task.created,
        finished=task.finished,
        due_at=deadline.due_at if deadline else None,
        outcome=task.data.get("outcome", ""),
        data=task.data,
    )


def process_position(agreement) -> ProcessPosition | None:
    """Where the agreement's process is, for its page and the diagram; None without a process."""
    process = engine.process_for(agreement)
    if process is None:
        return None
    tasks = list(
        AgreementTask.objects.filter(process_id=process.pk)
        .select_related("owner", "deadline")
        .order_by("pk")
    )
    human = [t for t in tasks if t.flow_task.name in PHASE_OF_NODE]
    open_ = [t for t in human if t.status in OPEN_STATUSES]
    latest = {t.flow_task.name: t.status for t in tasks}
    nodes, _edges = chart.topsort(AgreementFlow)
    return ProcessPosition(
        process_id=process.pk,
        status=process.status,
        current=sorted({t.flow_task.name for t in open_}),
        open_tasks=[_line(t) for t in open_],
        history=[_line(t) for t in human if t.status not in OPEN_STATUSES],
        nodes=[(n.name, str(n.task_title), latest.get(n.name)) for n in nodes],
    )


def process_chart_svg(agreement=None) -> str:
    """viewflow's diagram of the flow as SVG, with the agreement's tasks marked by status
    (viewflow.workflow.chart, as its FlowChartView renders it); the bare flow without one."""
    grid = chart.calc_layout_data(AgreementFlow)
    process = engine.process_for(agreement) if agreement is not None else None
    if process is not None:
        chart.calc_cell_status(AgreementFlow, grid, process.pk)
        for cell in grid.cells:
            # viewflow's stylesheet colours STARTED tasks, not ASSIGNED ones: an assigned task
            # is where the process stands, so it is drawn as in progress.
            if cell.status == STATUS.ASSIGNED:
                cell.status = STATUS.STARTED
    return chart.grid_to_svg(grid)


def review_checklist(agreement) -> list[ChecklistItem]:
    return checklist_for(agreement)


def review_reports(agreement):
    return (
        ReviewReport.objects.filter(agreement=agreement)
        .select_related("reviewer", "version")
        .order_by("round", "created_at", "pk")
    )


def named_reviewers(agreement):
    return Reviewer.objects.filter(agreement=agreement).select_related("user")


def signing_plan(agreement) -> dict:
    """The signing order and its stages (names), as set or by default."""
    from workflow.routing import signing_stages

    config = AgreementWorkflow.objects.filter(agreement=agreement).first()
    stages = signing_stages(agreement, config)
    return {
        "order": config.signing_order if config else "parallel",
        "stages": [[(s.full_name, s.party.organisation.name) for s in stage] for stage in stages],
    }


def can_review(agreement, user) -> bool:
    return policies.is_independent_reviewer(agreement, user)
