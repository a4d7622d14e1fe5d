"""Deadlines: a reminder to the task's owner before the due date, an escalation to the
responsible legal officer once it has passed.

``run_deadlines(now=...)`` is the job. It runs every STIPULA_DEADLINES_EVERY_SECONDS in Celery
beat (task ``workflow.run_deadlines``), or from any scheduler as ``manage.py workflow_deadlines``;
both call this function. Each task is handled in its own transaction with its agreement locked,
so a task completed meanwhile is neither reminded nor escalated, and a job that runs twice (or
two jobs at once) reminds and escalates each task once.
"""

import datetime
from typing import NamedTuple

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agreements.models import Agreement
from agreements.roles import Role
from agreements.services import _lock
from workflow import engine, events, notifications
from workflow.models import OPEN_STATUSES, AgreementTask, TaskDeadline
from workflow.notifications import Mail


class DeadlineRun(NamedTuple):
    reminded: int
    escalated: int


def run_deadlines(*, now: datetime.datetime | None = None) -> DeadlineRun:
    now = now or timezone.now()
    before = datetime.timedelta(days=settings.STIPULA_WORKFLOW_REMIND_BEFORE_DAYS)
    pending = TaskDeadline.objects.filter(
        due_at__isnull=False, escalated_at__isnull=True, task__status__in=OPEN_STATUSES
    )
    overdue = list(pending.filter(due_at__lte=now).values_list("task_id", "agreement_id"))
    upcoming = list(
        pending.filter(
            reminded_at__isnull=True, due_at__gt=now, due_at__lte=now + before
        ).values_list("task_id", "agreement_id")
    )
    escalated = sum(
        _handle(task_id, agreement_id, now, escalate=True) for task_id, agreement_id in overdue
    )
    reminded = sum(
        _handle(task_id, agreement_id, now, escalate=False) for task_id, agreement_id in upcoming
    )
    return DeadlineRun(reminded=reminded, escalated=escalated)


def _candidates(task, agreement) -> list[int]:
    """Who a reminder goes to: the owner, or whoever may take an unassigned task."""
    if task.owner_id:
        return [task.owner_id]
    role = task.data.get("role")
    if role not in (Role.REVIEWER, Role.REGISTRAR):
        return []
    users = get_user_model().objects.filter(is_active=True, groups__name=role)
    if role == Role.REVIEWER:
        users = users.exclude(pk=agreement.legal_officer_id).exclude(
            authored_versions__agreement=agreement
        )
    return list(users.values_list("pk", flat=True).distinct())


@transaction.atomic(durable=True)
def _handle(task_id: int, agreement_id: int, now, *, escalate: bool) -> int:
    agreement = _lock(Agreement(pk=agreement_id))
    deadline = TaskDeadline.objects.select_related("task__owner").get(task_id=task_id)
    task = AgreementTask.objects.select_related("owner").get(pk=task_id)
    if task.status not in OPEN_STATUSES or deadline.escalated_at is not None:
        return 0
    if escalate and deadline.due_at > now:
        return 0
    if not escalate and (deadline.reminded_at is not None or deadline.due_at <= now):
        return 0
    params = engine._mail_params(task, agreement, deadline.due_at)
    if escalate:
        deadline.escalated_at = now
        deadline.save(update_fields=["escalated_at"])
        events.task_escalated(task=task, agreement=agreement, due_at=deadline.due_at)
        owner = task.owner
        params["owner"] = (owner.get_full_name() or owner.get_username()) if owner else ""
        mails = [Mail(notifications.ESCALATED, agreement.legal_officer_id, params)]
    else:
        deadline.reminded_at = now
        deadline.save(update_fields=["reminded_at"])
        events.task_reminded(task=task, agreement=agreement, due_at=deadline.due_at)
        mails = [Mail(notifications.REMINDER, uid, params) for uid in _candidates(task, agreement)]
    notifications.queue(mails)
    return 1
