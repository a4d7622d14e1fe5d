"""One helper per audit event type of the workflow. Only the engine and the services call them,
inside the transaction of the change they record."""

from audit.models import AuditAction
from audit.services import record_event


def _username(user) -> str:
    return user.get_username() if user is not None else ""


def _task_payload(task, **extra) -> dict:
    payload = {
        "task": task.pk,
        "process": task.process_id,
        "node": task.flow_task.name,
        "status": task.status,
        "owner": _username(task.owner) if task.owner_id else "",
    }
    for key in ("round", "stage", "signatory", "reviewer", "role"):
        if task.data.get(key) is not None:
            payload[key] = task.data[key]
    payload.update(extra)
    return payload


def _role(actor, role: str) -> str:
    return role if actor is not None else "system"


def process_started(*, actor, process, agreement, role):
    return record_event(
        actor=actor,
        action=AuditAction.PROCESS_STARTED,
        obj=process,
        agreement_id=agreement.pk,
        role=_role(actor, role),
        payload={"process": process.pk, "flow": str(process.flow_class), "state": agreement.state},
    )


def process_finished(*, actor, process, agreement):
    return record_event(
        actor=actor,
        action=AuditAction.PROCESS_FINISHED,
        obj=process,
        agreement_id=agreement.pk,
        role="system" if actor is None else "",
        payload={"process": process.pk, "state": agreement.state},
    )


def process_cancelled(*, actor, process, agreement, role, reason):
    return record_event(
        actor=actor,
        action=AuditAction.PROCESS_CANCELLED,
        obj=process,
        agreement_id=agreement.pk,
        role=_role(actor, role),
        payload={"process": process.pk, "state": agreement.state},
        reason=reason,
    )


def task_created(*, actor, task, agreement, due_at):
    return record_event(
        actor=actor,
        action=AuditAction.TASK_CREATED,
        obj=task,
        agreement_id=agreement.pk,
        role="system" if actor is None else "",
        payload=_task_payload(task, due=due_at.isoformat() if due_at else None),
    )


def task_assigned(*, actor, task, agreement, role):
    return record_event(
        actor=actor,
        action=AuditAction.TASK_ASSIGNED,
        obj=task,
        agreement_id=agreement.pk,
        role=_role(actor, role),
        payload=_task_payload(task),
    )


def task_completed(*, actor, task, agreement, role, outcome):
    return record_event(
        actor=actor,
        action=AuditAction.TASK_COMPLETED,
        obj=task,
        agreement_id=agreement.pk,
        role=_role(actor, role),
        payload=_task_payload(task, outcome=outcome),
    )


def task_cancelled(*, actor, task, agreement, role, reason, cause):
    return record_event(
        actor=actor,
        action=AuditAction.TASK_CANCELLED,
        obj=task,
        agreement_id=agreement.pk,
        role=_role(actor, role),
        payload=_task_payload(task, cause=cause),
        reason=reason,
    )


def task_delegated(*, actor, delegation, task, role):
    signatory = delegation.signatory
    return record_event(
        actor=actor,
        action=AuditAction.TASK_DELEGATED,
        obj=delegation,
        agreement_id=delegation.agreement_id,
        role=_role(actor, role),
        payload={
            "task": task.pk if task is not None else None,
            "signatory": signatory.pk,
            "party": signatory.party.organisation.name,
            "from": _username(delegation.from_user),
            "to": _username(delegation.to_user),
            "act": delegation.act,
            "before": delegation.replaced,
            "after": {
                "full_name": signatory.full_name,
                "title": signatory.title,
                "fiscal_code": signatory.fiscal_code,
                "authorising_act": signatory.authorising_act,
            },
        },
    )


def task_reminded(*, task, agreement, due_at):
    return record_event(
        actor=None,
        action=AuditAction.TASK_REMINDED,
        obj=task,
        agreement_id=agreement.pk,
        role="system",
        payload=_task_payload(task, due=due_at.isoformat()),
    )


def task_escalated(*, task, agreement, due_at):
    return record_event(
        actor=None,
        action=AuditAction.TASK_ESCALATED,
        obj=task,
        agreement_id=agreement.pk,
        role="system",
        payload=_task_payload(
            task, due=due_at.isoformat(), escalated_to=_username(agreement.legal_officer)
        ),
    )


def reviewer_named(*, actor, reviewer, role):
    return record_event(
        actor=actor,
        action=AuditAction.REVIEWER_NAMED,
        obj=reviewer,
        agreement_id=reviewer.agreement_id,
        role=_role(actor, role),
        payload={"reviewer": _username(reviewer.user)},
    )


def reviewer_removed(*, actor, agreement, user, role):
    return record_event(
        actor=actor,
        action=AuditAction.REVIEWER_REMOVED,
        obj=agreement,
        agreement_id=agreement.pk,
        role=_role(actor, role),
        payload={"reviewer": _username(user)},
    )


def review_submitted(*, actor, report):
    version = report.version
    return record_event(
        actor=actor,
        action=AuditAction.REVIEW_SUBMITTED,
        obj=report,
        agreement_id=report.agreement_id,
        role="reviewer",
        payload={
            "task": report.task_id,
            "round": report.round,
            "version": version.number,
            "decision": report.decision,
            "items": report.items,
        },
        documents=version.documents(),
        reason=report.reason,
    )


def signing_order_set(*, actor, config, role, stages):
    return record_event(
        actor=actor,
        action=AuditAction.SIGNING_ORDER_SET,
        obj=config,
        agreement_id=config.agreement_id,
        role=_role(actor, role),
        payload={"order": config.signing_order, "stages": stages},
    )


def signing_declined(*, actor, decline):
    signatory = decline.signatory
    return record_event(
        actor=actor,
        action=AuditAction.SIGNING_DECLINED,
        obj=decline,
        agreement_id=decline.agreement_id,
        role="signatory",
        payload={
            "signatory": signatory.pk,
            "name": signatory.full_name,
            "party": signatory.party.organisation.name,
            "task": decline.task_id,
        },
        reason=decline.reason,
    )


def signing_resumed(*, actor, agreement, role, note):
    return record_event(
        actor=actor,
        action=AuditAction.SIGNING_RESUMED,
        obj=agreement,
        agreement_id=agreement.pk,
        role=_role(actor, role),
        payload={},
        reason=note,
    )
