"""What people do in the process: name reviewers, set the signing order, submit a review,
take a task, delegate or decline a signature, resume a suspended signing.

Each service is durable-atomic and, like the agreement services, locks the agreement row first,
checks permission, changes what it changes (firing the agreement's transition through
agreements.services._transition when the action is one), writes its audit events and queues
e-mail for after the commit. A refused attempt raises a DomainError and is audited.
"""

from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from viewflow.workflow.status import STATUS

from agreements import policies
from agreements.models import Agreement, AgreementParty, AgreementState, OrganisationMember
from agreements.models import Signatory as SignatoryModel
from agreements.roles import Role, has_role
from agreements.services import _lock, _transition, audited_refusals
from audit import services as audit_services
from stipula.errors import (
    ConcurrentChange,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from workflow import engine, events
from workflow.checklist import checklist_for
from workflow.flows import AgreementFlow
from workflow.models import (
    AgreementTask,
    AgreementWorkflow,
    ItemOutcome,
    ReviewDecision,
    Reviewer,
    ReviewReport,
    SigningDecline,
    SigningDelegation,
    SigningOrder,
    TaskDeadline,
    UserPreferences,
)
from workflow.notifications import ASSIGNED, Mail

S = AgreementState


def _officer_role(agreement, actor) -> str:
    if actor is None:
        return "system"
    if policies.is_responsible_legal_officer(agreement, actor):
        return Role.LEGAL_OFFICER.value
    return Role.ADMINISTRATOR.value


def _require_officer(agreement, actor, message) -> None:
    if actor is None:
        return
    if policies.is_responsible_legal_officer(agreement, actor):
        return
    if has_role(actor, Role.ADMINISTRATOR):
        return
    raise PermissionDenied(message, state=agreement.state)


def _name(user) -> str:
    return user.get_full_name() or user.get_username()


def _when(moment) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


def _process(locked):
    """The agreement's process, started now if it has none (an agreement that predates it)."""
    process = engine.process_for(locked)
    if process is None:
        process = engine.start_process(locked, None, role="system")
    return process


# Starting ------------------------------------------------------------------------------------


@audited_refusals("workflow.process_start")
@transaction.atomic(durable=True)
def process_start(*, actor, agreement: Agreement):
    """Start the process of an agreement that has none (the responsible legal officer)."""
    locked = _lock(agreement)
    _require_officer(
        locked, actor, _("Only the responsible legal officer can start this agreement's process.")
    )
    if engine.process_for(locked) is not None:
        raise ValidationFailed(_("This agreement's process has already started."))
    return engine.start_process(locked, actor, role=_officer_role(locked, actor))


# Reviewers -----------------------------------------------------------------------------------


def _require_reviewers_editable(locked, actor) -> None:
    _require_officer(
        locked, actor, _("Only the responsible legal officer can choose the reviewers.")
    )
    if locked.state not in (S.DRAFT, S.NEGOTIATION):
        raise TransitionNotAllowed(
            _(
                "The agreement is in state «%(state)s»: reviewers are chosen before it is "
                "submitted for legal review."
            )
            % {"state": locked.get_state_display()},
            state=locked.state,
        )


@audited_refusals("workflow.reviewer_name")
@transaction.atomic(durable=True)
def reviewer_name(*, actor, agreement: Agreement, user) -> Reviewer:
    """Name ``user`` a reviewer of ``agreement``. Never someone who drafted it (four-eyes)."""
    locked = _lock(agreement)
    _require_reviewers_editable(locked, actor)
    if not user.is_active or not has_role(user, Role.REVIEWER):
        raise ValidationFailed(
            _("%(user)s is not a reviewer: only people with the reviewer role can review.")
            % {"user": _name(user)}
        )
    if policies.is_drafter(locked, user):
        raise ValidationFailed(
            _(
                "%(user)s drafted this agreement and cannot review it: the review must be done "
                "by someone else (four-eyes principle)."
            )
            % {"user": _name(user)}
        )
    if Reviewer.objects.filter(agreement=locked, user=user).exists():
        raise ValidationFailed(
            _("%(user)s is already a reviewer of this agreement.") % {"user": _name(user)}
        )
    reviewer = Reviewer.objects.create(agreement=locked, user=user, named_by=actor)
    events.reviewer_named(actor=actor, reviewer=reviewer, role=_officer_role(locked, actor))
    return reviewer


@audited_refusals("workflow.reviewer_remove")
@transaction.atomic(durable=True)
def reviewer_remove(*, actor, agreement: Agreement, user) -> None:
    locked = _lock(agreement)
    _require_reviewers_editable(locked, actor)
    deleted, _rows = Reviewer.objects.filter(agreement=locked, user=user).delete()
    if not deleted:
        raise ValidationFailed(
            _("%(user)s is not a reviewer of this agreement.") % {"user": _name(user)}
        )
    events.reviewer_removed(
        actor=actor, agreement=locked, user=user, role=_officer_role(locked, actor)
    )


# Signing order -------------------------------------------------------------------------------


@audited_refusals("workflow.signing_order_set")
@transaction.atomic(durable=True)
def signing_order_set(
    *,
    actor,
    agreement: Agreement,
    order: str,
    stages: list[list[AgreementParty]] | None = None,
) -> AgreementWorkflow:
    """Set how the signatories sign: all in parallel, one after the other in party order, or in
    stages (ordered groups of parties; parties left out sign last, together)."""
    locked = _lock(agreement)
    _require_officer(
        locked, actor, _("Only the responsible legal officer can set the signing order.")
    )
    if locked.state not in (S.DRAFT, S.NEGOTIATION, S.LEGAL_REVIEW):
        raise TransitionNotAllowed(
            _(
                "The agreement is in state «%(state)s»: the signing order is set before the "
                "signatures start."
            )
            % {"state": locked.get_state_display()},
            state=locked.state,
        )
    if order not in SigningOrder.values:
        raise ValidationFailed(_("Choose a signing order: parallel, sequential or staged."))
    stage_ids: list[list[int]] = []
    if order == SigningOrder.STAGED:
        stage_ids = _checked_stages(locked, stages or [])
    config, _created = AgreementWorkflow.objects.get_or_create(agreement=locked)
    config.signing_order = order
    config.signing_stages = stage_ids
    config.save(update_fields=["signing_order", "signing_stages", "updated_at"])
    names = dict(locked.parties.values_list("pk", "organisation__name"))
    events.signing_order_set(
        actor=actor,
        config=config,
        role=_officer_role(locked, actor),
        stages=[[names[pk] for pk in stage] for stage in stage_ids],
    )
    return config


def _checked_stages(locked, stages) -> list[list[int]]:
    if not stages or not any(stages):
        raise ValidationFailed(_("Give at least one stage: the parties that sign first."))
    own = set(locked.parties.values_list("pk", flat=True))
    seen: set[int] = set()
    result = []
    for stage in stages:
        ids = [p.pk if isinstance(p, AgreementParty) else int(p) for p in stage]
        if not ids:
            raise ValidationFailed(_("A stage cannot be empty."))
        if set(ids) - own:
            raise ValidationFailed(_("A stage names a party that is not in this agreement."))
        if seen & set(ids) or len(set(ids)) != len(ids):
            raise ValidationFailed(_("Each party may appear in one stage only."))
        seen |= set(ids)
        result.append(ids)
    return result


# Legal review --------------------------------------------------------------------------------


def _closed_task_message(task) -> str:
    if task.status == STATUS.DONE:
        who = task.data.get("completed_by") or (_name(task.owner) if task.owner_id else "?")
        return _(
            "This task was already completed by %(who)s on %(time)s. Reload the page to see "
            "where the agreement is now."
        ) % {"who": who, "time": _when(task.finished)}
    return _(
        "This task was cancelled on %(time)s: the phase it belonged to is closed. Reload the "
        "page to see where the agreement is now."
    ) % {"time": _when(task.finished or task.created)}


def _pinned_task(process, task_id):
    task = (
        AgreementTask.objects.filter(pk=task_id, process_id=process.pk)
        .select_related("owner")
        .first()
    )
    if task is None:
        raise ValidationFailed(_("This task does not belong to this agreement."))
    if not task.is_open:
        raise ConcurrentChange(_closed_task_message(task))
    task.process = process
    return task


def _checked_items(agreement, outcomes: dict) -> list[dict]:
    checklist = checklist_for(agreement)
    codes = {item.code for item in checklist}
    unknown = sorted(set(outcomes) - codes)
    if unknown:
        raise ValidationFailed(
            _("Unknown checklist items: %(items)s.") % {"items": ", ".join(unknown)}
        )
    items, missing = [], []
    for item in checklist:
        given = outcomes.get(item.code)
        if isinstance(given, str):
            given = {"outcome": given}
        outcome = (given or {}).get("outcome") or ""
        if not outcome:
            missing.append(item.label)
            continue
        if outcome not in ItemOutcome.values:
            raise ValidationFailed(
                _(
                    "«%(outcome)s» is not an outcome: use compliant, not compliant or not "
                    "applicable."
                )
                % {"outcome": outcome}
            )
        note = str(given.get("note") or "").strip()
        if outcome == ItemOutcome.NOT_COMPLIANT and not note:
            raise ValidationFailed(
                _("Explain in a note why «%(item)s» is not compliant.") % {"item": item.label}
            )
        items.append({"code": item.code, "label": item.label, "outcome": outcome, "note": note})
    if missing:
        raise ValidationFailed(
            _("Give an outcome for every item of the checklist (missing: %(items)s).")
            % {"items": "; ".join(missing)}
        )
    return items


def _my_review_task(process, locked, actor, pinned):
    reviews = [t for t in engine.open_tasks(process) if t.flow_task.name == "review"]
    if pinned is not None:
        if pinned.flow_task.name != "review":
            raise ValidationFailed(_("This is not a review task."))
        if pinned.owner_id not in (None, actor.pk):
            raise PermissionDenied(
                _("This review task is assigned to %(owner)s.") % {"owner": _name(pinned.owner)},
                state=locked.state,
            )
        return pinned, reviews
    mine = next((t for t in reviews if t.owner_id == actor.pk), None)
    if mine is None:
        mine = next((t for t in reviews if t.owner_id is None), None)
    if mine is not None:
        return mine, reviews
    last = (
        AgreementTask.objects.filter(
            process_id=process.pk, flow_task=AgreementFlow.review, owner=actor
        )
        .order_by("-pk")
        .first()
    )
    if last is not None and last.data.get("round") == process.data.get("review_round"):
        raise ConcurrentChange(_closed_task_message(last))
    if Reviewer.objects.filter(agreement=locked).exists():
        raise PermissionDenied(
            _("You are not among the reviewers named for this agreement."), state=locked.state
        )
    raise TransitionNotAllowed(_("There is no review open for you on this agreement."))


@audited_refusals("workflow.review_submit")
@transaction.atomic(durable=True)
def review_submit(
    *,
    actor,
    agreement: Agreement,
    outcomes: dict,
    decision: str,
    reason: str = "",
    task: int | None = None,
) -> ReviewReport:
    """Submit one reviewer's checklist and decision.

    ``outcomes`` maps each checklist item's code (workflow.checklist) to ``{"outcome":
    "compliant" | "not_compliant" | "not_applicable", "note": "..."}``. Request changes sends
    the agreement back to negotiation at once, with the reasons, and closes the other reviews;
    approval by the last reviewer approves the agreement (which freezes the PDF to sign).
    ``task`` pins the task the reviewer was looking at: if someone else closed it meanwhile, the
    reviewer is told so instead of acting on a different task.
    """
    locked = _lock(agreement)
    if decision not in ReviewDecision.values:
        raise ValidationFailed(_("Choose «Approve» or «Request changes»."))
    process = _process(locked) if locked.state == S.LEGAL_REVIEW else engine.process_for(locked)
    pinned = _pinned_task(process, task) if (task is not None and process) else None
    if locked.state != S.LEGAL_REVIEW:
        raise TransitionNotAllowed(
            _("The agreement is in state «%(state)s»: it is not under legal review.")
            % {"state": locked.get_state_display()},
            state=locked.state,
        )
    if not policies.is_independent_reviewer(locked, actor):
        raise PermissionDenied(
            _(
                "Only a reviewer who did not draft this agreement can review it "
                "(four-eyes principle)."
            ),
            state=locked.state,
        )
    engine.attach(process, locked, actor)
    mine, reviews = _my_review_task(process, locked, actor, pinned)
    items = _checked_items(locked, outcomes)
    reason = reason.strip()
    failing = [i["label"] for i in items if i["outcome"] == ItemOutcome.NOT_COMPLIANT]
    if decision == ReviewDecision.APPROVE and failing:
        raise ValidationFailed(
            _("You marked as not compliant: %(items)s. Request changes, or correct the checklist.")
            % {"items": "; ".join(failing)}
        )
    if decision == ReviewDecision.REQUEST_CHANGES and not reason:
        raise ValidationFailed(
            _("Give the reasons for the changes you request: they go to the legal officer.")
        )
    report = ReviewReport.objects.create(
        agreement=locked,
        task=mine,
        reviewer=actor,
        version=locked.current_version,
        round=mine.data.get("round", 1),
        decision=decision,
        reason=reason,
        items=items,
    )
    events.review_submitted(actor=actor, report=report)
    if mine.owner_id is None:
        engine.claim(process, mine, actor)
    others_open = [t for t in reviews if t.pk != mine.pk]
    if decision == ReviewDecision.REQUEST_CHANGES:
        findings = [
            {"item": i["label"], "note": i["note"]}
            for i in items
            if i["outcome"] == ItemOutcome.NOT_COMPLIANT
        ]
        _transition(
            actor=actor,
            agreement=locked,
            name="request_changes",
            reason=reason,
            extra={"review": report.pk, "findings": findings},
        )
    elif others_open:
        engine.complete_task(process, mine, actor, outcome="approve")
        engine._finish_move(process)
    else:
        reviewers = sorted(
            set(
                ReviewReport.objects.filter(
                    agreement=locked, round=report.round, decision=ReviewDecision.APPROVE
                ).values_list("reviewer__username", flat=True)
            )
        )
        _transition(
            actor=actor,
            agreement=locked,
            name="approve",
            extra={"review": report.pk, "reviewers": reviewers},
        )
    return report


# Tasks ---------------------------------------------------------------------------------------


def _about_task(kwargs) -> dict:
    task = kwargs.get("task")
    if task is None:
        return {}
    agreement_id = TaskDeadline.objects.filter(task_id=getattr(task, "pk", task)).values_list(
        "agreement_id", flat=True
    )
    return {"agreement_id": agreement_id.first()}


@audit_services.audited_refusals("workflow.task_claim", locate=_about_task)
@transaction.atomic(durable=True)
def task_claim(*, actor, task) -> AgreementTask:
    """Take a task nobody holds yet (a review when no reviewer was named, a registration)."""
    task_id = getattr(task, "pk", task)
    deadline = TaskDeadline.objects.filter(task_id=task_id).first()
    if deadline is None:
        raise ValidationFailed(_("This is not a task of an agreement."))
    locked = _lock(Agreement(pk=deadline.agreement_id))
    process = engine.process_for(locked)
    task = _pinned_task(process, task_id)
    if task.owner_id is not None:
        if task.owner_id == actor.pk:
            return task
        raise ConcurrentChange(
            _("This task was taken by %(owner)s on %(time)s.")
            % {"owner": _name(task.owner), "time": _when(task.assigned or task.created)}
        )
    role = task.data.get("role")
    allowed = {
        "reviewer": lambda: policies.is_independent_reviewer(locked, actor),
        "registrar": lambda: policies.is_registrar(locked, actor),
    }.get(role)
    if actor is None or allowed is None or not allowed():
        raise PermissionDenied(_("You cannot take this task."), state=locked.state)
    engine.attach(process, locked, actor)
    engine.claim(process, task, actor)
    return task


# Signing ---------------------------------------------------------------------------------------


def _signatory_of(locked, signatory) -> SignatoryModel:
    row = (
        SignatoryModel.objects.select_related("party__organisation", "user")
        .filter(pk=signatory.pk, party__agreement_id=locked.pk)
        .first()
    )
    if row is None:
        raise ValidationFailed(_("This signatory does not sign this agreement."))
    return row


def _require_signing(locked) -> None:
    if locked.state != S.SIGNATURE:
        raise TransitionNotAllowed(
            _("The agreement is in state «%(state)s»: it is not being signed.")
            % {"state": locked.get_state_display()},
            state=locked.state,
        )


@audited_refusals("workflow.signing_delegate")
@transaction.atomic(durable=True)
def signing_delegate(
    *,
    actor,
    agreement: Agreement,
    signatory,
    to_user,
    act: str,
    title: str = "",
    fiscal_code: str = "",
) -> SigningDelegation:
    """Hand a signature to another person authorised for the same party.

    The delegate becomes the signatory of record: the ``Signatory`` row takes their user, name,
    title, fiscal code (give it, so that their certificate is matched, RULES.md S8) and, as its
    authorising act, the act of delegation; they sign in the same signature field. The person
    replaced and their data stay in the ``SigningDelegation`` row and in the audit event. The
    signatory, or the responsible legal officer on their behalf, may delegate, while the
    signatory has not signed yet.
    """
    locked = _lock(agreement)
    signatory = _signatory_of(locked, signatory)
    if actor is None or not (
        actor.pk == signatory.user_id or policies.is_responsible_legal_officer(locked, actor)
    ):
        raise PermissionDenied(
            _(
                "Only the signatory, or the responsible legal officer on their behalf, can "
                "delegate this signature."
            ),
            state=locked.state,
        )
    _require_signing(locked)
    act = act.strip()
    if not act:
        raise ValidationFailed(
            _(
                "Give the act that authorises the delegation (for example, the decree and its "
                "number)."
            )
        )
    party = signatory.party
    if signatory.signatures.exists():
        raise ValidationFailed(
            _("%(name)s has already signed: the signature can no longer be delegated.")
            % {"name": signatory.full_name}
        )
    if to_user.pk == signatory.user_id or not to_user.is_active:
        raise ValidationFailed(_("Choose another active person as delegate."))
    if not OrganisationMember.objects.filter(
        organisation_id=party.organisation_id, user=to_user
    ).exists():
        raise ValidationFailed(
            _(
                "%(user)s is not authorised to act for %(party)s: only a member of the party "
                "can receive the delegation."
            )
            % {"user": _name(to_user), "party": party.organisation.name}
        )
    if party.signatories.filter(user=to_user).exclude(pk=signatory.pk).exists():
        raise ValidationFailed(
            _("%(user)s already signs for %(party)s.")
            % {"user": _name(to_user), "party": party.organisation.name}
        )
    replaced = {
        "user": signatory.user.get_username(),
        "full_name": signatory.full_name,
        "title": signatory.title,
        "fiscal_code": signatory.fiscal_code,
        "authorising_act": signatory.authorising_act,
    }
    from_user = signatory.user
    SignatoryModel.objects.filter(pk=signatory.pk).update(
        user=to_user,
        full_name=_name(to_user),
        title=(
            title.strip()
            or _("Delegate of %(name)s, %(title)s")
            % {"name": signatory.full_name, "title": signatory.title}
        )[:255],
        fiscal_code=fiscal_code.strip().upper(),
        authorising_act=act,
    )
    signatory.refresh_from_db()
    process = engine.process_for(locked)
    task = engine.open_sign_task(process, signatory.pk) if process is not None else None
    delegation = SigningDelegation.objects.create(
        agreement=locked,
        signatory=signatory,
        task=task,
        from_user=from_user,
        to_user=to_user,
        act=act,
        replaced=replaced,
        created_by=actor,
    )
    events.task_delegated(
        actor=actor,
        delegation=delegation,
        task=task,
        role="signatory" if actor.pk == from_user.pk else Role.LEGAL_OFFICER.value,
    )
    if task is not None:
        engine.attach(process, locked, actor)
        task.data.update({"user": to_user.pk, "name": signatory.full_name})
        engine.reassign(process, task, to_user)
        due = task.deadline.due_at if hasattr(task, "deadline") else None
        params = engine._mail_params(
            task,
            locked,
            due,
            {
                "kind": "delegated",
                "from": replaced["full_name"],
                "party": party.organisation.name,
                "act": act,
            },
        )
        engine._outbox(process).append(Mail(ASSIGNED, to_user.pk, params))
        engine._finish_move(process)
    return delegation


def _fsm_can_decline() -> bool:
    """Whether the agreement's state machine has the transition back to negotiation on a
    declined signature (asked of the lead: see workflow/README.md)."""
    from agreements.transitions import TRANSITIONS

    return hasattr(Agreement, "decline_signing") and "decline_signing" in TRANSITIONS


@audited_refusals("workflow.signing_decline")
@transaction.atomic(durable=True)
def signing_decline(*, actor, agreement: Agreement, signatory, reason: str) -> SigningDecline:
    """A signatory declines to sign for their party, with a reason: the signing phase stops.

    The other open signing tasks are cancelled and the responsible legal officer gets the
    decision: resume the signing (``signing_resume``) or withdraw the agreement. Once the state
    machine has the transition «decline_signing» (signature -> negotiation), the agreement goes
    back to negotiation instead.
    """
    locked = _lock(agreement)
    signatory = _signatory_of(locked, signatory)
    if actor is None or actor.pk != signatory.user_id:
        raise PermissionDenied(
            _("Only the signatory can decline to sign for their party."), state=locked.state
        )
    _require_signing(locked)
    reason = reason.strip()
    if not reason:
        raise ValidationFailed(_("Give a reason: it is kept in the record of the procedure."))
    from signing.models import Signature, latest_indication

    signed = (
        Signature.objects.filter(signatory=signatory)
        .annotate(current=latest_indication())
        .filter(current=Signature.Indication.PASSED)
        .exists()
    )
    if signed:
        raise ValidationFailed(_("You have already signed this agreement."))
    process = _process(locked)
    engine.attach(process, locked, actor)
    task = engine.open_sign_task(process, signatory.pk)
    decline = SigningDecline.objects.create(
        agreement=locked, signatory=signatory, task=task, user=actor, reason=reason
    )
    events.signing_declined(actor=actor, decline=decline)
    process.data["declined"] = decline.pk
    process.data["declined_info"] = {
        "name": signatory.full_name,
        "party": signatory.party.organisation.name,
        "reason": reason,
    }
    process.save(update_fields=["data"])
    if _fsm_can_decline():
        _transition(
            actor=actor,
            agreement=locked,
            name="decline_signing",
            reason=reason,
            extra={"decline": decline.pk},
        )
    else:
        engine.stop_signing(process, actor, task)
    return decline


@audited_refusals("workflow.signing_resume")
@transaction.atomic(durable=True)
def signing_resume(*, actor, agreement: Agreement, note: str = "") -> None:
    """After a decline, the responsible legal officer resumes the signing: whoever has not
    signed yet gets their task again, in the signing order."""
    locked = _lock(agreement)
    _require_officer(locked, actor, _("Only the responsible legal officer can resume signing."))
    _require_signing(locked)
    process = engine.process_for(locked)
    decision = None
    if process is not None:
        decision = next(
            (t for t in engine.open_tasks(process) if t.flow_task.name == "decline_decision"),
            None,
        )
    if decision is None:
        raise TransitionNotAllowed(_("Signing is not suspended."), state=locked.state)
    engine.attach(process, locked, actor)
    process.data.pop("declined", None)
    process.save(update_fields=["data"])
    events.signing_resumed(
        actor=actor, agreement=locked, role=_officer_role(locked, actor), note=note.strip()
    )
    engine.complete_task(process, decision, actor, outcome="resume")
    engine._finish_move(process)


# Preferences -----------------------------------------------------------------------------------


def preferences_set_language(*, actor, user, language: str) -> UserPreferences:
    """The language ``user`` receives e-mail in (themselves, or an administrator for them)."""
    from django.conf import settings

    if actor is None or (actor.pk != user.pk and not has_role(actor, Role.ADMINISTRATOR)):
        raise PermissionDenied(_("You can change only your own preferences."))
    if language not in dict(settings.LANGUAGES):
        raise ValidationFailed(_("This language is not available."))
    preferences, _created = UserPreferences.objects.update_or_create(
        user=user, defaults={"language": language}
    )
    return preferences
