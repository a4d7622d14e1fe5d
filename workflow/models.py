"""The process around an agreement: one viewflow process per agreement, its tasks' deadlines, the
reviewers and their reports, the signing order, delegations and declines, and each user's
language for e-mail.

The process rows are viewflow's own (``viewflow.Process`` and ``viewflow.Task``, seen through the
proxies below), so viewflow's task lists and charts work on them; what viewflow has no place for
lives in this app's tables, linked to the agreement and the task. The agreement's state machine
stays the legal truth: nothing here changes it, and the process follows it (workflow.engine).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from viewflow.workflow.models import Process, Task
from viewflow.workflow.status import STATUS

# Task statuses of a task someone still has to do.
OPEN_STATUSES = (STATUS.NEW, STATUS.ASSIGNED, STATUS.STARTED)


class AgreementProcess(Process):
    """The viewflow process of one agreement (``AgreementWorkflow`` links the two)."""

    class Meta:
        proxy = True
        verbose_name = _("agreement process")
        verbose_name_plural = _("agreement processes")

    @property
    def agreement(self):
        """The agreement, as the caller locked it when it handed it over (workflow.engine)."""
        cached = self.__dict__.get("_agreement")
        if cached is None:
            from agreements.models import Agreement

            cached = Agreement.objects.get(workflow__process_id=self.pk)
            self.__dict__["_agreement"] = cached
        return cached


class AgreementTask(Task):
    """A task of an agreement's process."""

    class Meta:
        proxy = True
        verbose_name = _("agreement task")
        verbose_name_plural = _("agreement tasks")

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class SigningOrder(models.TextChoices):
    PARALLEL = "parallel", _("All in parallel")
    SEQUENTIAL = "sequential", _("One after the other, in party order")
    STAGED = "staged", _("In stages (groups of parties, in order)")


class AgreementWorkflow(models.Model):
    """How an agreement's process runs (signing order) and which viewflow process is its own.

    One row per agreement, one process per agreement: both links are unique in the database.
    The row exists as soon as the signing order is set or the process starts, whichever comes
    first; an agreement without it has no process and follows the plain lifecycle.
    """

    agreement = models.OneToOneField(
        "agreements.Agreement", on_delete=models.PROTECT, related_name="workflow"
    )
    process = models.OneToOneField(
        Process,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="agreement_workflow",
    )
    signing_order = models.CharField(
        _("signing order"), max_length=16, choices=SigningOrder, default=SigningOrder.PARALLEL
    )
    # For SigningOrder.STAGED: the stages in order, each a list of AgreementParty ids. A party in
    # no stage signs in a last stage of its own (see workflow.engine.signing_stages).
    signing_stages = models.JSONField(_("signing stages"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("agreement workflow")
        verbose_name_plural = _("agreement workflows")

    def __str__(self):
        return f"{self.agreement_id}: {self.signing_order}"


class TaskDeadline(models.Model):
    """Due date, reminder and escalation of one human task (viewflow's task has no due date).

    ``phase`` names the phase whose deadline applies (settings.STIPULA_WORKFLOW_DEADLINES).
    """

    task = models.OneToOneField(
        Task, primary_key=True, on_delete=models.CASCADE, related_name="deadline"
    )
    agreement = models.ForeignKey(
        "agreements.Agreement", on_delete=models.PROTECT, related_name="task_deadlines"
    )
    phase = models.CharField(_("phase"), max_length=32)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    reminded_at = models.DateTimeField(_("reminded"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated"), null=True, blank=True)

    class Meta:
        verbose_name = _("task deadline")
        verbose_name_plural = _("task deadlines")
        indexes = [
            models.Index(
                fields=["due_at"],
                name="deadline_pending_idx",
                condition=Q(escalated_at__isnull=True, due_at__isnull=False),
            )
        ]

    def __str__(self):
        return f"{self.task_id}: {self.due_at}"


class Reviewer(models.Model):
    """A person named to review one agreement (legal review). Never one of its drafters."""

    agreement = models.ForeignKey(
        "agreements.Agreement", on_delete=models.PROTECT, related_name="reviewers"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews_named"
    )
    named_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    named_at = models.DateTimeField(_("named"), auto_now_add=True)

    class Meta:
        ordering = ["agreement", "named_at", "pk"]
        verbose_name = _("reviewer")
        verbose_name_plural = _("reviewers")
        constraints = [
            models.UniqueConstraint(fields=["agreement", "user"], name="unique_reviewer")
        ]

    def __str__(self):
        return f"{self.user} ({self.agreement_id})"


class ReviewDecision(models.TextChoices):
    APPROVE = "approve", _("Approve")
    REQUEST_CHANGES = "request_changes", _("Request changes")


class ItemOutcome(models.TextChoices):
    COMPLIANT = "compliant", _("Compliant")
    NOT_COMPLIANT = "not_compliant", _("Not compliant")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")


class ReviewReport(models.Model):
    """One reviewer's completed checklist on one version, with their decision.

    ``items`` keeps, per checklist item, its code, its label as shown to the reviewer, the
    outcome and the note: the checklist may change later, the record does not.
    """

    agreement = models.ForeignKey(
        "agreements.Agreement", on_delete=models.PROTECT, related_name="review_reports"
    )
    task = models.OneToOneField(Task, on_delete=models.PROTECT, related_name="review_report")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="review_reports"
    )
    version = models.ForeignKey(
        "agreements.AgreementVersion",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("version reviewed"),
    )
    round = models.PositiveIntegerField(_("review round"))
    decision = models.CharField(_("decision"), max_length=16, choices=ReviewDecision)
    reason = models.TextField(_("reason"), blank=True)
    items = models.JSONField(_("checklist"), default=list)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["agreement", "created_at", "pk"]
        verbose_name = _("review report")
        verbose_name_plural = _("review reports")

    def __str__(self):
        return f"{self.agreement_id} r{self.round}: {self.decision}"


class SigningDelegation(models.Model):
    """A signatory handing their signature to another person authorised for the same party.

    The delegate becomes the signatory of record (workflow.services.signing_delegate); this row
    keeps who they replaced and the act that authorises it.
    """

    agreement = models.ForeignKey(
        "agreements.Agreement", on_delete=models.PROTECT, related_name="signing_delegations"
    )
    signatory = models.ForeignKey(
        "agreements.Signatory", on_delete=models.PROTECT, related_name="delegations"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="signing_delegations"
    )
    act = models.CharField(_("authorising act"), max_length=500)
    # The signatory as it was before: full name, title, fiscal code, authorising act.
    replaced = models.JSONField(_("replaced signatory"), default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["agreement", "created_at", "pk"]
        verbose_name = _("signing delegation")
        verbose_name_plural = _("signing delegations")

    def __str__(self):
        return f"{self.signatory_id}: {self.from_user_id} -> {self.to_user_id}"


class SigningDecline(models.Model):
    """A party declining to sign, with its reason: the signing phase stops."""

    agreement = models.ForeignKey(
        "agreements.Agreement", on_delete=models.PROTECT, related_name="signing_declines"
    )
    signatory = models.ForeignKey(
        "agreements.Signatory", on_delete=models.PROTECT, related_name="declines"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["agreement", "created_at", "pk"]
        verbose_name = _("declined signature")
        verbose_name_plural = _("declined signatures")

    def __str__(self):
        return f"{self.signatory_id}: {self.reason[:40]}"


class UserPreferences(models.Model):
    """What a user chose for themselves: the language of the e-mail they receive."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)

    class Meta:
        verbose_name = _("user preferences")
        verbose_name_plural = _("user preferences")

    def __str__(self):
        return f"{self.user}: {self.language}"
