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

import copy
import datetime
from contextlib import contextmanager

from django.conf import settings
from django.db import connection
from django.utils import timezone
from viewflow.workflow.nodes.switch import SwitchActivation
from viewflow.workflow.nodes.view import ViewActivation
from viewflow.workflow.status import PROCESS, STATUS
from viewflow.workflow.token import Token

from agreements.models import AgreementState
from audit import services as audit_services
from workflow import events, notifications, routing
from workflow.flows import PHASE_OF_NODE, ROLE_OF_NODE, AgreementFlow
from workflow.models import (
    OPEN_STATUSES,
    AgreementProcess,
    AgreementTask,
    AgreementWorkflow,
    TaskDeadline,
)
from workflow.nodes import ForEachActivation, SameProcessJoinActivation
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
    if _unclaimed_role(task):
        task.save(update_fields=["data"])
    _task_created(task, process).save()


def _unclaimed_role(task) -> bool:
    """Nobody holds ``task``: whoever has the node's role may take it (services.task_claim)."""
    if task.owner_id is None and "role" not in task.data:
        task.data["role"] = ROLE_OF_NODE[task.flow_task.name]
        return True
    return False


def _task_created(task, process) -> TaskDeadline:
    """Audit a new human task and queue the e-mail to its owner; return its deadline, unsaved."""
    agreement = process.agreement
    phase = PHASE_OF_NODE[task.flow_task.name]
    days = settings.STIPULA_WORKFLOW_DEADLINES.get(phase)
    due_at = timezone.now() + datetime.timedelta(days=days) if days else None
    deadline = TaskDeadline(task=task, agreement_id=agreement.pk, phase=phase, due_at=due_at)
    events.task_created(actor=_actor(process), task=task, agreement=agreement, due_at=due_at)
    if task.owner_id:
        note = _note_for(task, process)
        _outbox(process).append(
            Mail(notifications.ASSIGNED, task.owner_id, _mail_params(task, agreement, due_at, note))
        )
    return deadline


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


def on_transition(*, agreement, name: str, actor) -> bool:
    """The agreement (locked) has just made the transition ``name``: move its process. Returns
    whether the agreement has a process (after this move)."""
    process, unfinished = _process_with_unfinished_tasks(agreement)
    if process is not None:
        attach(process, agreement, actor)
        if DIRECT_MOVES and _move_directly(process, unfinished, name, actor):
            _finish_move(process)
            return True
    else:
        process = process_for(agreement)
        if process is None:
            if settings.STIPULA_WORKFLOW_AUTOSTART and agreement.state not in FINAL_STATES:
                with audit_services.unbatched():
                    start_process(agreement, actor, role=_role_for(name))
                return True
            return False
        attach(process, agreement, actor)
    if process.status == PROCESS.NEW:
        # viewflow's activations open savepoints of their own: their events are written one by
        # one.
        with audit_services.unbatched():
            _move_with_viewflow(process, name, actor)
    return True


def _move_with_viewflow(process, name: str, actor) -> None:
    agreement = process.agreement
    if name == "withdraw":
        cancel_process(process, actor, reason=agreement.closing_reason)
        return
    if name == "approve":
        _new_signing_round(process)
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


def _new_signing_round(process) -> None:
    """Approval: a new round of signatures on the newly approved text."""
    process.data["signing_round"] = process.data.get("signing_round", 0) + 1
    process.data.pop("declined", None)


# Direct moves --------------------------------------------------------------------------------

# viewflow's activations create, save and link one task at a time, each gateway in a savepoint of
# its own: some twenty statements and most of a transition's time. When a transition's move only
# goes through human tasks, switches, splits and joins, the engine follows the flow's own wiring
# in memory, calling its owners, gateway conditions and data sources as viewflow calls them, and
# writes the rows viewflow would write (statuses, timestamps, tokens, owners, previous-task links,
# deadlines, audit events, e-mail) in a few bulk statements. Anything else (the end of the
# process, a join that already has a task, a move that would leave the process out of step with
# the state) goes through viewflow. tests/workflow/test_direct_moves.py compares both, row by row.
DIRECT_MOVES = True
DIRECT_TRANSITIONS = {"open_negotiation", "submit_for_review", "request_changes", "approve"}
_FINISHED = (STATUS.DONE, STATUS.CANCELED, STATUS.REVIVED)
_PREVIOUS = AgreementTask.previous.through


class Columns:
    """A model's columns as one query selects them, and the instances made from them as
    Django's ORM makes them (the same converters: JSON, flow references, tokens, and on SQLite
    the times). For the queries run on every transition (here, and the agreement's row lock in
    agreements.services), written once in SQL: compiling them with the ORM costs several times
    what running them does."""

    def __init__(self, model, alias: str):
        self.model = model
        self.alias = alias
        self.fields = list(model._meta.concrete_fields)
        self.attnames = [f.attname for f in self.fields]
        self._converters = {}

    @property
    def sql(self) -> str:
        return ", ".join(f"{self.alias}.{_qn(f.column)}" for f in self.fields)

    def converters(self):
        vendor = connection.vendor
        if vendor not in self._converters:
            table = self.model._meta.db_table
            self._converters[vendor] = [
                [
                    (convert, f.get_col(table))
                    for convert in connection.ops.get_db_converters(f.get_col(table))
                    + f.get_db_converters(connection)
                ]
                for f in self.fields
            ]
        return self._converters[vendor]

    def instance(self, values):
        converted = []
        for value, converters in zip(values, self.converters(), strict=True):
            for convert, column in converters:
                value = convert(value, column, connection)
            converted.append(value)
        return self.model.from_db(connection.alias, self.attnames, converted)


_TASK = Columns(AgreementTask, "t")
_PROCESS = Columns(AgreementProcess, "p")
_OWNER_FIELD = AgreementTask._meta.get_field("owner")
_SQL = {}


def _unfinished_sql() -> str:
    if "unfinished" not in _SQL:
        from django.contrib.auth import get_user_model

        _SQL["owner"] = Columns(get_user_model(), "u")
        tables = {
            name: _qn(model._meta.db_table)
            for name, model in [
                ("task", AgreementTask),
                ("process", AgreementProcess),
                ("workflow", AgreementWorkflow),
                ("user", get_user_model()),
            ]
        }
        _SQL["unfinished"] = (
            f"SELECT {_TASK.sql}, {_PROCESS.sql}, {_SQL['owner'].sql} "  # noqa: S608 - names
            f"FROM {tables['task']} t JOIN {tables['process']} p ON p.id = t.process_id "
            f"JOIN {tables['workflow']} w ON w.process_id = p.id "
            f"LEFT JOIN {tables['user']} u ON u.id = t.owner_id "
            "WHERE w.agreement_id = %s AND p.status = %s "
            "AND t.status NOT IN (%s, %s, %s) ORDER BY t.id"
        )
    return _SQL["unfinished"]


def _process_with_unfinished_tasks(agreement):
    """The agreement's running process and its unfinished tasks with their owners, oldest
    first, in one query; (None, []) when there are none."""
    with connection.cursor() as cursor:
        cursor.execute(_unfinished_sql(), [agreement.pk, PROCESS.NEW, *_FINISHED])
        rows = cursor.fetchall()
    if not rows:
        return None, []
    owner_columns = _SQL["owner"]
    split_process = len(_TASK.fields)
    split_owner = split_process + len(_PROCESS.fields)
    process = _PROCESS.instance(rows[0][split_process:split_owner])
    tasks = []
    for row in rows:
        task = _TASK.instance(row[:split_process])
        task.process = process
        owner = owner_columns.instance(row[split_owner:]) if task.owner_id is not None else None
        _OWNER_FIELD.set_cached_value(task, owner)
        tasks.append(task)
    return process, tasks


class _Branch:
    """The token of a split's ``n``-th branch, known once the split task has its id."""

    def __init__(self, split, n: int):
        self.split = split
        self.n = n


class _Step:
    """What viewflow's activation is to the flow's callables: the task and its process."""

    def __init__(self, task, process):
        self.task = task
        self.process = process

    @property
    def flow_task(self):
        return self.task.flow_task

    @property
    def flow_class(self):
        return self.task.flow_task.flow_class


class _Move:
    """A move planned in memory: the tasks it creates, in viewflow's order, and their links."""

    def __init__(self, process, unfinished, closed):
        self.process = process
        self.unfinished = unfinished
        self.closed = {task.pk for task in closed}
        self.created: list[AgreementTask] = []
        self.links: list[tuple[AgreementTask, AgreementTask]] = []
        self.human: list[AgreementTask] = []
        # (task, split task, n): a split's n-th branch gets a token naming the split's id.
        self.branches: list[tuple[AgreementTask, AgreementTask, int]] = []
        self.process_fields: set[str] = set()

    def follow(self, carrier) -> bool:
        """Take the token from the completed ``carrier`` as viewflow's activate_next would;
        False where the move needs viewflow itself."""
        node = carrier.flow_task
        if node._task_data is not None or node._task_seed is not None:
            return False
        layer = [(node._next, carrier, carrier.token, None, None)]
        while layer:
            after = []
            for next_node, previous, token, data, seed in layer:
                created = self._create(next_node, previous, token, data, seed)
                if created is None:
                    return False
                after.extend(created)
            layer = after
        return True

    def _new(self, node, previous, token, data, seed) -> AgreementTask:
        branch = None
        if isinstance(token, _Branch):
            branch, token = token, Token("")
        task = AgreementTask(
            process=self.process, flow_task=node, flow_task_type=node.task_type, token=token
        )
        if branch is not None:
            self.branches.append((task, branch.split, branch.n))
        task.data = data if data is not None else {}
        task.seed = seed
        self.created.append(task)
        self.links.append((task, previous))
        return task

    def _done(self, task) -> None:
        task.status = STATUS.DONE
        task.finished = timezone.now()

    def _create(self, node, previous, token, data, seed):
        kind = node.activation_class
        if node._boundary_events:
            return None
        if kind is SameProcessJoinActivation:
            return self._join(node, previous, token, data, seed)
        task = self._new(node, previous, token, data, seed)
        step = _Step(task, self.process)
        if kind is SwitchActivation:  # SwitchActivation.activate, complete, create_next
            chosen = None
            for branch, condition in node._branches:
                if condition:
                    if condition(step):
                        chosen = branch
                        break
                else:
                    chosen = branch
            if chosen is None:
                return None
            self._done(task)
            return [(chosen, task, task.token, None, None)]
        if kind is ForEachActivation:  # workflow.nodes.ForEachActivation
            items = []
            for branch, case, data_source in node._branches:
                if case and not case(step):
                    continue
                if branch.activation_class is not ViewActivation:
                    return None
                if data_source is None:
                    items.append((branch, None, None))
                else:
                    items.extend((branch, item, item_seed) for item, item_seed in data_source(step))
            if not items:
                return None
            self._done(task)
            return [
                (branch, task, _Branch(task, n), item, item_seed)
                for n, (branch, item, item_seed) in enumerate(items, start=1)
            ]
        if kind is ViewActivation:  # ViewActivation.create
            if node._on_create != AgreementFlow.instance.task_created:
                return None
            permission = node.calc_owner_permission(step)
            if permission:
                task.owner_permission = permission
                task.owner_permission_obj = node.calc_owner_permission_obj(step)
            owner = node.calc_owner(step)
            if owner:
                task.owner = owner
                task.status = STATUS.ASSIGNED
            _unclaimed_role(task)
            self.human.append(task)
            return []
        return None

    def _join(self, node, previous, token, data, seed):
        """SameProcessJoinActivation: a new join task, done unless branches are still open."""
        if node._continue_on_condition is not None or node._task_data or node._task_seed:
            return None
        if previous.pk is None or any(t.flow_task == node for t in self.unfinished):
            return None
        if token.is_split_token():
            token = token.get_base_split_token()
        task = self._new(node, previous, token, data, seed)
        task.status = STATUS.STARTED
        task.started = timezone.now()
        prefix = previous.token.get_common_split_prefix(task.token, previous.pk)
        waiting = [
            t
            for t in self.unfinished
            if t.pk not in self.closed and t.token.token.startswith(prefix)
        ]
        if waiting:
            return []
        self._done(task)
        return [(node._next, task, task.token, None, None)]

    def in_step(self) -> bool:
        """Whether the tasks open after the move are those the agreement's state calls for."""
        state = self.process.agreement.state
        if state in FINAL_STATES:
            return False
        open_nodes = {
            t.flow_task.name
            for t in self.unfinished
            if t.pk not in self.closed and t.flow_task.name in PHASE_OF_NODE
        } | {t.flow_task.name for t in self.human}
        return bool(open_nodes) and open_nodes <= EXPECTED_NODES.get(state, set())

    @contextmanager
    def deferring_process_saves(self):
        """While planning, the flow's callables save the process (a review round number): the
        move writes those fields once, with its other rows."""

        def save(*args, update_fields=None, **kwargs):
            self.process_fields.update(update_fields or ["__all__"])

        self.process.save = save
        try:
            yield
        finally:
            del self.process.save


def _allocate_ids(tasks) -> None:
    """Give ``tasks`` their ids before they are written: a split's branches carry its id in
    their tokens, and the audit events name every task."""
    if not tasks:
        return
    table = AgreementTask._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, len(tasks)],
            )
            ids = sorted(row[0] for row in cursor.fetchall())
        else:
            # SQLite: the transaction has written (the transition), so it holds the database's
            # write lock and nobody else can take these ids meanwhile.
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                "SELECT MAX(n) FROM (SELECT seq AS n FROM sqlite_sequence WHERE name = %s "  # noqa: S608
                f"UNION ALL SELECT MAX(id) FROM {quoted})",
                [table],
            )
            first = (cursor.fetchone()[0] or 0) + 1
            ids = range(first, first + len(tasks))
    for task, pk in zip(tasks, ids, strict=True):
        task.pk = pk


def _move_directly(process, unfinished, name: str, actor) -> bool:
    """Move the process for the transition ``name`` without viewflow's activations, when the
    move allows it (see DIRECT_MOVES); False, with nothing changed, when it does not."""
    if name not in DIRECT_TRANSITIONS or any(t.status not in OPEN_STATUSES for t in unfinished):
        return False
    human = [t for t in unfinished if t.flow_task.name in PHASE_OF_NODE]
    carrier = _carrier(human, name, actor)
    if carrier is None:
        return False
    sources = SOURCE_NODES[name]
    closing = [t for t in human if t is not carrier and t.flow_task.name in sources]
    for task in (carrier, *closing):
        if task.status not in (STATUS.NEW, STATUS.ASSIGNED):
            return False
        if task.flow_task.activation_class is not ViewActivation:
            return False
    data_before = copy.deepcopy(process.data)
    if name == "approve":
        _new_signing_round(process)
    move = _Move(process, unfinished, [carrier, *closing])
    if name == "approve":
        move.process_fields.add("data")
    with move.deferring_process_saves():
        planned = move.follow(carrier)
    if not planned or not move.in_step():
        process.data = data_before
        attach(process, process.agreement, actor)
        return False
    _write_move(move, carrier, closing, name, actor)
    return True


def _write_move(move: _Move, carrier, closing, name: str, actor) -> None:
    """Audit the move in viewflow's order (cancellations, the carrier's claim and completion,
    the new tasks) and write its rows (see _write_rows)."""
    process = move.process
    agreement = process.agreement
    _allocate_ids(move.created)
    for task, split, n in move.branches:
        task.token = Token(f"{split.token.token}/{split.pk}_{n}")
    for task in closing:  # ViewActivation.cancel
        task.status = STATUS.CANCELED
        task.finished = timezone.now()
        events.task_cancelled(
            actor=actor,
            task=task,
            agreement=agreement,
            role=ROLE_OF_NODE.get(task.flow_task.name, ""),
            reason="",
            cause=name,
        )
    role = ROLE_OF_NODE[carrier.flow_task.name]
    if carrier.status == STATUS.NEW:  # claim: ViewActivation.assign
        carrier.owner = actor
        carrier.status = STATUS.ASSIGNED
        events.task_assigned(actor=actor, task=carrier, agreement=agreement, role=role)
    carrier.data["outcome"] = name
    if actor is not None and carrier.owner_id != actor.pk:
        carrier.data["completed_by"] = actor.get_username()
    carrier.started = timezone.now()  # ViewActivation.start, then complete
    carrier.status = STATUS.DONE
    carrier.finished = timezone.now()
    events.task_completed(actor=actor, task=carrier, agreement=agreement, role=role, outcome=name)
    deadlines = [_task_created(task, process) for task in move.human]

    fields = []
    if "__all__" in move.process_fields:
        fields = [f.name for f in process._meta.concrete_fields if not f.primary_key]
    elif move.process_fields:
        fields = sorted(move.process_fields)
    _write_rows(
        closed=[*closing, carrier],
        created=move.created,
        links=[_PREVIOUS(from_task_id=task.pk, to_task_id=prev.pk) for task, prev in move.links],
        deadlines=deadlines,
        process=process,
        process_fields=fields,
    )


_CLOSED_FIELDS = ("status", "owner", "started", "finished", "data")


def _write_rows(*, closed, created, links, deadlines, process, process_fields) -> None:
    """Write a direct move's rows: each closed task's UPDATE, one INSERT each of the new tasks,
    their links and their deadlines, the process's data if it changed. On PostgreSQL they go
    with the transition's audit events, in its one closing statement
    (audit.services.write_with_events)."""
    for task in closed:
        audit_services.write_update(task, _CLOSED_FIELDS)
    for rows in (created, links, deadlines):
        audit_services.write_insert(rows)
    if process_fields:
        audit_services.write_update(process, process_fields)


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


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
