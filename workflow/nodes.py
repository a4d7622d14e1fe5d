"""Two pieces viewflow's open-source edition leaves to the project: a split that creates one task
per item of a list computed when it runs (one review per reviewer, one signature per signatory of
the current stage), and the process lock.

viewflow's ``Split.Next`` documents a ``data_source`` but its activation ignores it, so ``ForEach``
implements it: ``data_source(activation)`` returns ``(data, seed)`` pairs, and each becomes one
instance of the next node with ``task.data = data`` and ``task.seed = seed``.
"""

from contextlib import contextmanager

from django.db import transaction
from viewflow.workflow import flow
from viewflow.workflow.activation import Activation
from viewflow.workflow.exceptions import FlowRuntimeError
from viewflow.workflow.nodes.join import JoinActivation
from viewflow.workflow.nodes.split import SplitActivation
from viewflow.workflow.status import STATUS
from viewflow.workflow.token import Token


class ForEachActivation(SplitActivation):
    @Activation.status.super()
    def activate(self):
        for node, case, data_source in self.flow_task._branches:
            if case and not case(self):
                continue
            if data_source is None:
                self.next_tasks.append((node, None, None))
                continue
            for data, seed in data_source(self):
                self.next_tasks.append((node, data, seed))
        if not self.next_tasks:
            raise FlowRuntimeError(f"No next task available for {self.flow_task.name}")

    @Activation.status.super()
    def create_next(self):
        tokens = Token.split_token_source(self.task.token, self.task.pk)
        for node, data, seed in self.next_tasks:
            yield node._create(prev_activation=self, token=next(tokens), data=data, seed=seed)


class ForEach(flow.Split):
    """A parallel split creating one instance of the next node per item of ``data_source``."""

    activation_class = ForEachActivation

    def Next(self, node, case=None, data_source=None):  # noqa: N802 - viewflow's naming
        self._activate_next.append((node, case, data_source))
        return self


class SameProcessJoinActivation(JoinActivation):
    """viewflow's join, keeping the process object of the branch that arrives.

    viewflow reads an existing join task back from the database, and with it a fresh copy of
    the process; the tasks created after the join would then lose what the move carries on the
    process object (the locked agreement, the acting user, the e-mail to send after the
    commit). Same logic as ``JoinActivation.create``, with the arriving branch's process.
    """

    @classmethod
    def create(cls, flow_task, prev_activation, token, data=None, seed=None):
        flow_class = flow_task.flow_class
        process = prev_activation.process
        tasks = list(
            flow_class.task_class._default_manager.filter(
                flow_task=flow_task, process=process, status__in=[STATUS.NEW, STATUS.STARTED]
            )[:2]
        )
        if len(tasks) > 1:
            raise FlowRuntimeError("More than one join instance for process found")
        if tasks:
            task = tasks[0]
            task.process = process
        else:
            if token.is_split_token():
                token = token.get_base_split_token()
            task = flow_class.task_class(process=process, flow_task=flow_task, token=token)
            task.data = data if data is not None else {}
            task.seed = seed
            task.save()
        task.previous.add(prev_activation.task)
        return cls(task)


class Join(flow.Join):
    """viewflow's join (see SameProcessJoinActivation)."""

    activation_class = SameProcessJoinActivation


class AgreementRowLock:
    """viewflow's per-process lock: the agreement's row lock.

    Every service that touches an agreement's process first locks the agreement row
    (agreements.services._lock), so work on one process is already serialised; viewflow's own
    entry points (starting a process) take the same lock here. Never ``no_lock``: the process
    has Join nodes, which need concurrent branch completions serialised.
    """

    @contextmanager
    def __call__(self, flow_class, process_pk):
        from agreements.models import Agreement

        with transaction.atomic():
            list(
                Agreement.objects.select_for_update(no_key=True, of=("self",))
                .filter(workflow__process_id=process_pk)
                .values_list("pk", flat=True)
            )
            yield


agreement_row_lock = AgreementRowLock()
