"""Moving an agreement's process, inside the transaction of the service that caused the move.

The services call in through workflow.hooks (a transition fired, a signature recorded or
validated) and workflow.services (a review submitted, a delegation, a decline). Every entry point
runs with the agreement row locked by the calling service, which serialises all work on one
process; a task and the change it stands for therefore commit together or not at all.

How a transition moves the process: the open tasks of the phase the transition leaves are closed
(the one of the person who acted is completed, the others are cancelled), and completing that
"carrier" task lets viewflow take the token along the graph: joins wait for the other branches,
gateways read the agreement's new state. When the process is out of step with the state (a
transition made by someone with no task, a process started late), ``resync`` cancels what is
open and opens the phase the state calls for. After every transition the process is checked
against the state (``EXPECTED_NODES``), so it can never stay out of step.

Every human task created, assigned, completed or cancelled is audited here, in the same
transaction; e-mails are queued and sent after the commit (workflow.notifications).
"""

import datetime

from django.conf import settings
from django.utils import timezone
from viewflow.workflow.status import PROCESS, STATUS
from viewflow.workflow.token import Token

from agreements.models import AgreementState
from workflow import events, notifications, routing
from workflow.flows import PHASE_OF_NODE, ROLE_OF_NODE, AgreementFlow
from workflow.models import (
    OPEN_STATUSES,
    AgreementProcess,
    AgreementTask,
    AgreementWorkflow,
    TaskDeadline,
)
from workflow.notifications import Mail

S = AgreementState

# The human tasks each transition closes: the phase it leaves.
SOURCE_NODES = {
    "open_negotiation": {"draft"},
    "submit_for_review": {"draft", "negotiation"},
    "request_changes": {"review"},
    "approve": {"review"},
    "reject": {"review"},
    "decline_signing": {"sign", "decline_decision"},
    "register": {"registration"},
}
# Phases held by one task whoever holds it: the transition closes it whoever fired it.
SINGLE_TASK_NODES = {"draft", "negotiation", "decline_decision", "registration"}
# The human tasks a process may have open while its agreement is in each state.
EXPECTED_NODES = {
    S.DRAFT: {"draft"},
    S.NEGOTIATION: {"negotiation"},
    S.LEGAL_REVIEW: {"review"},
    S.SIGNATURE: {"sign", "decline_decision"},
    S.SIGNED: {"registration"},
}
FINAL_STATES = {S.REGISTERED, S.REJECTED, S.WITHDRAWN, S.ANNULLED}


# The process of an agreement --------------------------------------------------------------


def attach(process: AgreementProcess, agreement, actor=None) -> AgreementProcess:
    """Hand the caller's locked agreement (and the acting user) to the process for one move."""
    process.__dict__["_agreement"] = agreement
    cache = process.__dict__.setdefault("_cache", {})
    users = cache.get("users", {})
    cache.clear()
    cache["users"] = users
    process.__dict__["_actor"] = actor
    process.__dict__["_status_before"] = process.status
    process.__dict__.setdefault("_outbox", [])
    return process


def process_for(agreement) -> AgreementProcess | None:
    """The agreement's process, or None when it has none. Read afresh each time: a process
    object lives for one move, never across transactions."""
    process = AgreementProcess.objects.filter(agreement_workflow__agreement_id=agreement.pk).first()
    if process is not None:
        process.__dict__["_agreement"] = agreement
    return process


def _actor(process):
    return process.__dict__.get("_actor")


def _outbox(process) -> list[Mail]:
    return process.__dict__.setdefault("_outbox", [])


def _finish_move(process) -> None:
    """Record the end of the process if this move ended it, and queue the move's e-mail."""
    agreement = process.agreement
    if process.__dict__.get("_status_before") == PROCESS.NEW and process.status == PROCESS.DONE:
        events.process_finished(actor=_actor(process), process=process, agreement=agreement)
        process.__dict__["_status_before"] = process.status
    notifications.queue(_outbox(process))
    _outbox(process).clear()


def start_process(agreement, actor, *, role: str = "legal_officer") -> AgreementProcess:
    """Start the agreement's process (``agreement`` locked by the caller).

    In draft the process begins with the drafting task; an agreement already further on (a
    process started late) gets the tasks of the phase its state calls for.
    """
    existing = process_for(agreement)
    if existing is not None:
        return attach(existing, agreement, actor)
    config, _created = AgreementWorkflow.objects.get_or_create(agreement=agreement)
    node = AgreementFlow.start
    activation = node.activation_class.create(node, None, None)
    process = activation.process
    process.artifact = agreement
    # A process started after the drafting (an agreement older than the workflow) catches up
    # with what happened without it, e.g. signatures already made.
    process.data = {} if agreement.state == S.DRAFT else {"late_start": True}
    process.save()
    config.process = process
    config.save(update_fields=["process", "updated_at"])
    attach(process, agreement, actor)
    events.process_started(actor=actor, process=process, agreement=agreement, role=role)
    activation.complete()
    if agreement.state == S.DRAFT:
        activation.activate_next()
    else:
        _open_phase(process, activation)
    _finish_move(process)
    return process


# Tasks ----------------------------------------------------------------------------------------


def open_tasks(process, *, human_only: bool = True) -> list[AgreementTask]:
    tasks = list(
        AgreementTask.objects.filter(process_id=process.pk, status__in=OPEN_STATUSES)
        .select_related("owner")
        .order_by("pk")
    )
    for task in tasks:
        task.process = process
    if human_only:
        tasks = [t for t in tasks if t.flow_task.name in PHASE_OF_NODE]
    return tasks


def open_sign_task(process, signatory_id: int) -> AgreementTask | None:
    task = (
        AgreementTask.objects.filter(
            process_id=process.pk,
            flow_task=AgreementFlow.sign,
            status__in=OPEN_STATUSES,
            seed_object_id=signatory_id,
        )
        .select_related("owner")
        .first()
    )
    if task is not None:
        task.process = process
    return task


def _mail_params(task, agreement, due_at, note=None) -> dict:
    return {
        "node": task.flow_task.name,
        "agreement": agreement.pk,
        "subject": agreement.subject,
        "due": due_at.isoformat() if due_at else None,
        "note": note or {},
    }


def _note_for(task, process) -> dict:
    node = task.flow_task.name
    if node == "sign":
        return {"kind": "sign", "party": task.data.get("party", "")}
    if node == "review":
        return {"kind": "review"}
    if node == "decline_decision":
        return {"kind": "declined", **process.data.get("declined_info", {})}
    return {}


def on_task_created(activation) -> None:
    """Every human task, when viewflow creates it: its deadline, its audit event, and the e-mail
    to its owner."""
    task, process = activation.task, activation.process
    agreement = process.agreement
    phase = PHASE_OF_NODE[task.flow_task.name]
    days = settings.STIPULA_WORKFLOW_DEADLINES.get(phase)
    due_at = timezone.now() + datetime.timedelta(days=days) if days else None
    if task.owner_id is None and "role" not in task.data:
        # Nobody holds it: whoever has the node's role may take it (workflow.services.task_claim).
        task.data["role"] = ROLE_OF_NODE[task.flow_task.name]
        task.save(update_fields=["data"])
    TaskDeadline.objects.create(task=task, agreement_id=agreement.pk, phase=phase, due_at=due_at)
    events.task_created(actor=_actor(process), task=task, agreement=agreement, due_at=due_at)
    if task.owner_id:
        note = _note_for(task, process)
        _outbox(process).append(
            Mail(notifications.ASSIGNED, task.owner_id, _mail_params(task, agreement, due_at, note))
        )


def claim(process, task, actor) -> None:
    """Give an unassigned task to ``actor`` (viewflow's assign), audited."""
    task.flow_task.activation_class(task).assign(actor)
    events.task_assigned(
        actor=actor,
        task=task,
        agreement=process.agreement,
        role=ROLE_OF_NODE[task.flow_task.name],
    )


def complete_task(process, task, actor, *, outcome: str, data: dict | None = None) -> None:
    """Complete a human task and let the process go on from it."""
    activation = task.flow_task.activation_class(task)
    if task.status == STATUS.NEW:
        claim(process, task, actor)
    task.data["outcome"] = outcome
    task.data.update(data or {})
    if actor is not None and task.owner_id != actor.pk:
        task.data["completed_by"] = actor.get_username()
    activation.start(None)
    activation.complete()
    events.task_completed(
        actor=actor,
        task=task,
        agreement=process.agreement,
        role=ROLE_OF_NODE[task.flow_task.name],
        outcome=outcome,
    )
    activation.activate_next()


def cancel_task(process, task, actor, *, cause: str, reason: str = "", notify=False) -> None:
    """Cancel a task that is no longer needed (human tasks are audited)."""
    task.flow_task.activation_class(task).cancel()
    if task.flow_task.name not in PHASE_OF_NODE:
        return
    agreement = process.agreement
    events.task_cancelled(
        actor=actor,
        task=task,
        agreement=agreement,
        role=ROLE_OF_NODE.get(task.flow_task.name, ""),
        reason=reason,
        cause=cause,
    )
    if notify and task.owner_id:
        params = _mail_params(task, agreement, None)
        params["reason"] = reason
        _outbox(process).append(Mail(notifications.CANCELLED, task.owner_id, params))


def reassign(process, task, user) -> None:
    """Give an assigned task to someone else (a delegation); the caller audits why."""
    task.flow_task.activation_class(task).reassign(user)


# Moving the process ----------------------------------------------------------------------------


def _open_phase(process, previous_activation) -> None:
    """Open the phase the agreement's state calls for, after ``previous_activation``'s task."""
    agreement = process.agreement
    state = agreement.state
    if state in FINAL_STATES:
        _close_process(process, cancelled=state == S.WITHDRAWN)
        return
    if state == S.SIGNATURE:
        process.data.setdefault("signing_round", 1)
        process.save(update_fields=["data"])
        node = AgreementFlow.signing_split
        if not routing.pending_signatories(process):
            node = AgreementFlow.registration
    else:
        node = {
            S.DRAFT: AgreementFlow.draft,
            S.NEGOTIATION: AgreementFlow.negotiation,
            S.LEGAL_REVIEW: AgreementFlow.review_split,
            S.SIGNED: AgreementFlow.registration,
        }[state]
    activation = node._create(previous_activation, Token("start"))
    previous_activation._activate_next({activation})


def _close_process(process, *, cancelled: bool) -> None:
    process.status = PROCESS.CANCELED if cancelled else PROCESS.DONE
    process.finished = timezone.now()
    process.save(update_fields=["status", "finished"])


def resync(process, actor, *, cause: str, node=None) -> None:
    """Cancel whatever is open and open ``node``, by default the phase the agreement's state
    calls for."""
    tasks = open_tasks(process, human_only=False)
    for task in tasks:
        cancel_task(process, task, actor, cause=cause)
    last = (
        AgreementTask.objects.filter(process_id=process.pk).order_by("-pk").first()
        if not tasks
        else tasks[-1]
    )
    last.process = process
    previous = last.flow_task.activation_class(last)
    if node is None:
        _open_phase(process, previous)
    else:
        previous._activate_next({node._create(previous, Token("start"))})


def stop_signing(process, actor, decliner_task) -> None:
    """A signatory declined (the state machine has no way back yet): close the signing tasks and
    give the responsible legal officer the decision."""
    for task in open_tasks(process):
        if task.flow_task.name == "sign" and (decliner_task is None or task.pk != decliner_task.pk):
            cancel_task(process, task, actor, cause="decline")
    if decliner_task is not None:
        complete_task(process, decliner_task, actor, outcome="declined")
    decision_open = any(t.flow_task.name == "decline_decision" for t in open_tasks(process))
    if not decision_open:
        resync(process, actor, cause="decline", node=AgreementFlow.decline_decision)
    _finish_move(process)


def _in_step(process) -> bool:
    state = process.agreement.state
    open_nodes = {
        node.name
        for node in AgreementTask.objects.filter(
            process_id=process.pk, status__in=OPEN_STATUSES
        ).values_list("flow_task", flat=True)
        if node.name in PHASE_OF_NODE
    }
    if state in FINAL_STATES:
        return not open_nodes and process.status != PROCESS.NEW
    return bool(open_nodes) and open_nodes <= EXPECTED_NODES.get(state, set())


def _carrier(tasks, name: str, actor):
    """The task a transition completes: the acting person's task of the phase it leaves (or the
    phase's only task, or an unassigned one the person takes); None when there is none."""
    sources = SOURCE_NODES.get(name, set())
    candidates = [t for t in tasks if t.flow_task.name in sources]
    if not candidates:
        return None
    if actor is not None:
        for task in candidates:
            if task.owner_id == actor.pk:
                return task
    for task in candidates:
        if task.flow_task.name in SINGLE_TASK_NODES and (task.owner_id or actor is not None):
            return task
    if actor is not None:
        for task in candidates:
            if task.owner_id is None:
                return task
    return None


def on_transition(*, agreement, name: str, actor) -> None:
    """The agreement (locked) has just made the transition ``name``."""
    process = process_for(agreement)
    if process is None:
        if settings.STIPULA_WORKFLOW_AUTOSTART and agreement.state not in FINAL_STATES:
            start_process(agreement, actor, role=_role_for(name))
        return
    attach(process, agreement, actor)
    if process.status != PROCESS.NEW:
        return
    if name == "withdraw":
        cancel_process(process, actor, reason=agreement.closing_reason)
        return
    if name == "approve":
        # A new round of signatures on the newly approved text.
        process.data["signing_round"] = process.data.get("signing_round", 0) + 1
        process.data.pop("declined", None)
        process.save(update_fields=["data"])
    tasks = open_tasks(process)
    carrier = _carrier(tasks, name, actor)
    if carrier is not None:
        sources = SOURCE_NODES[name]
        for task in tasks:
            if task is not carrier and task.flow_task.name in sources:
                cancel_task(process, task, actor, cause=name)
        complete_task(process, carrier, actor, outcome=name)
    if not _in_step(process):
        resync(process, actor, cause=name)
    _finish_move(process)


def _role_for(name: str) -> str:
    from agreements.transitions import TRANSITIONS

    info = TRANSITIONS.get(name)
    return info.role.value if info is not None else ""


def cancel_process(process, actor, *, reason: str, role: str = "legal_officer") -> None:
    """Withdrawal: cancel every open task (telling their owners) and the process itself."""
    for task in open_tasks(process, human_only=False):
        cancel_task(process, task, actor, cause="withdraw", reason=reason, notify=True)
    _close_process(process, cancelled=True)
    events.process_cancelled(
        actor=actor, process=process, agreement=process.agreement, role=role, reason=reason
    )
    _finish_move(process)


def on_signature(*, agreement, signatory_id: int, indication: str, actor, signature_id) -> None:
    """A signature of ``signatory_id`` was recorded or validated again: PASSED completes their
    signing task; anything else leaves it open, marked with the outcome so far."""
    # The open signing task and its process in one query (this runs on every signature).
    task = (
        AgreementTask.objects.filter(
            process__agreement_workflow__agreement_id=agreement.pk,
            process__status=PROCESS.NEW,
            flow_task=AgreementFlow.sign,
            status__in=OPEN_STATUSES,
            seed_object_id=signatory_id,
        )
        .select_related("process", "owner")
        .first()
    )
    if task is None:
        return
    process = task.process
    process.__class__ = AgreementProcess
    attach(process, agreement, actor)
    if indication == "PASSED":
        complete_task(process, task, actor, outcome="signed", data={"signature": signature_id})
    else:
        task.data.update({"signature": signature_id, "indication": indication})
        task.save(update_fields=["data"])
    _finish_move(process)


def turn_error(agreement, signatory) -> str | None:
    """Why it is not ``signatory``'s turn to sign, or None (also when there is no process)."""
    from django.utils.translation import gettext as _

    rows = list(
        AgreementTask.objects.filter(
            process__agreement_workflow__agreement_id=agreement.pk,
            process__status=PROCESS.NEW,
            status__in=OPEN_STATUSES,
        )
        .order_by("pk")
        .values_list("flow_task", "seed_object_id", "data", "process__data")
    )
    signing = [(seed, data) for node, seed, data, _process in rows if node.name == "sign"]
    if any(seed == signatory.pk for seed, _data in signing):
        return None
    declined = [
        process_data for node, *_rest, process_data in rows if node.name == "decline_decision"
    ]
    if declined:
        info = declined[0].get("declined_info", {})
        return _(
            "Signing is suspended: %(name)s declined to sign for %(party)s. The responsible "
            "legal officer must decide how to go on."
        ) % {"name": info.get("name", "?"), "party": info.get("party", "?")}
    if signing:
        names = ", ".join(f"{data.get('name')} ({data.get('party')})" for _seed, data in signing)
        return _("It is not your turn to sign yet: first %(names)s must sign.") % {"names": names}
    return None
