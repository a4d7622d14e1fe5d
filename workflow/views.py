"""Pages of the process around an agreement (issue 5): each user's inbox, the process of an
agreement (diagram and tasks), the legal review with its checklist, the reviewers and the
signing order chosen by the responsible legal officer, a signatory's delegation and decline,
the resumption after a decline, and the user's language.

Like the agreements and signing pages, these read through ``workflow.selectors`` and act only
through ``workflow.services``, which check who may act and audit refused attempts. A refusal
becomes a message on the page with a 4xx status (403 not allowed, 409 not possible in the present
state or overtaken by someone else, 400 anything else), with the form and its inputs kept; never
an error page. A page someone may not open at all answers 403 (or 404 when the agreement itself
is not visible to them: its existence is news).

viewflow's own task pages (``task_page``) are not used: each task is done on these pages.
"""

import importlib

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core import exceptions
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agreements import policies
from agreements.models import Agreement, AgreementState, Signatory
from agreements.roles import Role, has_role
from stipula.errors import DomainError, PermissionDenied, TransitionNotAllowed
from workflow.forms import (
    DeclineForm,
    DelegateForm,
    LanguageForm,
    ResumeForm,
    ReviewerForm,
    ReviewForm,
    SigningOrderForm,
)
from workflow.models import (
    OPEN_STATUSES,
    AgreementTask,
    AgreementWorkflow,
    SigningOrder,
    UserPreferences,
)


class _Lazy:
    """A module imported on first use. workflow.flows imports this module (for ``task_page``)
    while it loads, and the engine, services and selectors import workflow.flows: importing them
    here at load time would be circular."""

    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)


engine = _Lazy("workflow.engine")
services = _Lazy("workflow.services")
selectors = _Lazy("workflow.selectors")
agreement_views = _Lazy("agreements.views")


def _visible_or_404(user, pk: int) -> Agreement:
    return agreement_views._visible_or_404(user, pk)


S = AgreementState


def task_page(request, **kwargs):
    """viewflow's execute view of every human task: the work is done on the agreement's page."""
    return redirect("agreements:detail", pk=request.activation.process.agreement.pk)


# Plumbing ------------------------------------------------------------------------------------


def _status_for(error: DomainError) -> int:
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, TransitionNotAllowed):
        return 409
    return 400


def _process_url(agreement_pk: int) -> str:
    return reverse("workflow:process", args=[agreement_pk])


def _may_manage(agreement: Agreement, user) -> bool:
    """The responsible legal officer, or an administrator: who chooses reviewers, the signing
    order, and resumes a suspended signing (workflow.services._require_officer)."""
    return policies.is_responsible_legal_officer(agreement, user) or has_role(
        user, Role.ADMINISTRATOR
    )


def _manager_or_403(agreement: Agreement, user, message: str) -> None:
    if not _may_manage(agreement, user):
        raise exceptions.PermissionDenied(message)


def _task_url(item) -> str:
    """Where the work of an inbox item is done."""
    if item.node == "review":
        return reverse("workflow:review", args=[item.agreement_id]) + f"?task={item.task_id}"
    if item.node == "sign" and item.data.get("signatory"):
        return reverse("agreements:sign", args=[item.agreement_id, item.data["signatory"]])
    if item.node == "decline_decision":
        return _process_url(item.agreement_id) + "#decline"
    return reverse("agreements:detail", args=[item.agreement_id])


# Inbox ---------------------------------------------------------------------------------------


def _render_inbox(request, *, status=200):
    items = selectors.open_tasks_for(request.user)
    rows = [(item, _task_url(item)) for item in items]
    return render(
        request,
        "workflow/inbox.html",
        {
            "mine": [row for row in rows if not row[0].claimable],
            "claimable": [row for row in rows if row[0].claimable],
            "overdue": sum(1 for item in items if item.overdue and not item.claimable),
        },
        status=status,
    )


@login_required
@require_GET
def inbox(request):
    return _render_inbox(request)


@login_required
@require_POST
def task_take(request, task_pk: int):
    try:
        task = services.task_claim(actor=request.user, task=task_pk)
    except DomainError as error:
        messages.error(request, str(error))
        return _render_inbox(request, status=_status_for(error))
    messages.success(request, _("The task is yours now."))
    if task.flow_task.name == "review":
        agreement_pk = task.deadline.agreement_id
        return redirect(reverse("workflow:review", args=[agreement_pk]) + f"?task={task.pk}")
    return redirect("workflow:index")


# Process -------------------------------------------------------------------------------------


def _declined_info(agreement: Agreement, position) -> dict | None:
    if position is None or "decline_decision" not in position.current:
        return None
    process = engine.process_for(agreement)
    return (process.data or {}).get("declined_info") or {}


def _render_process(request, agreement: Agreement, *, resume_form=None, status=200):
    user = request.user
    position = selectors.process_position(agreement)
    may_manage = _may_manage(agreement, user)
    my_signatories = []
    if agreement.state == S.SIGNATURE:
        my_signatories = list(
            Signatory.objects.filter(party__agreement=agreement, required=True)
            .filter(user=user)
            .select_related("party__organisation")
        )
    officer_signatories = []
    if agreement.state == S.SIGNATURE and policies.is_responsible_legal_officer(agreement, user):
        officer_signatories = list(
            Signatory.objects.filter(party__agreement=agreement, required=True)
            .exclude(user=user)
            .select_related("party__organisation")
            .order_by("party__position", "pk")
        )
    my_review = position is not None and any(
        line.node == "review" and line.data.get("user") in (None, user.pk)
        for line in position.open_tasks
    )
    context = {
        "agreement": agreement,
        "position": position,
        "chart": selectors.process_chart_svg(agreement),
        "reviewers": list(selectors.named_reviewers(agreement)),
        "reports": list(selectors.review_reports(agreement)),
        "plan": selectors.signing_plan(agreement),
        "order_labels": dict(SigningOrder.choices),
        "declined": _declined_info(agreement, position),
        "may_manage": may_manage,
        "may_review": my_review and policies.is_independent_reviewer(agreement, user),
        "may_start": position is None and may_manage,
        "my_signatories": my_signatories,
        "officer_signatories": officer_signatories,
        "resume_form": resume_form or ResumeForm(),
    }
    return render(request, "workflow/process.html", context, status=status)


@login_required
@require_GET
def process_detail(request, pk: int):
    agreement = _visible_or_404(request.user, pk)
    return _render_process(request, agreement)


@login_required
@require_POST
def process_start(request, pk: int):
    agreement = _visible_or_404(request.user, pk)
    try:
        services.process_start(actor=request.user, agreement=agreement)
    except DomainError as error:
        messages.error(request, str(error))
        return _render_process(request, agreement, status=_status_for(error))
    messages.success(request, _("The process of this agreement has started."))
    return redirect(_process_url(agreement.pk))


@login_required
@require_POST
def signing_resume(request, pk: int):
    agreement = _visible_or_404(request.user, pk)
    form = ResumeForm(request.POST)
    form.is_valid()
    try:
        services.signing_resume(
            actor=request.user, agreement=agreement, note=form.cleaned_data.get("note", "")
        )
    except DomainError as error:
        messages.error(request, str(error))
        return _render_process(request, agreement, resume_form=form, status=_status_for(error))
    messages.success(request, _("Signing resumed: whoever has not signed yet can sign again."))
    return redirect(_process_url(agreement.pk))


# Review --------------------------------------------------------------------------------------


def _open_review_task(agreement: Agreement, user, wanted: str | None):
    """The review task the reviewer works on: the one in the address, else their own open one,
    else one nobody holds."""
    process = engine.process_for(agreement)
    if process is None:
        return None
    tasks = [
        t
        for t in AgreementTask.objects.filter(process_id=process.pk, status__in=OPEN_STATUSES)
        .select_related("owner")
        .order_by("pk")
        if t.flow_task.name == "review"
    ]
    if wanted and wanted.isdigit():
        pinned = AgreementTask.objects.filter(pk=int(wanted), process_id=process.pk).first()
        if pinned is not None and pinned.flow_task.name == "review":
            return pinned
    mine = next((t for t in tasks if t.owner_id == user.pk), None)
    return mine or next((t for t in tasks if t.owner_id is None), None)


def _render_review(request, agreement, form, task, *, status=200):
    return render(
        request,
        "workflow/review.html",
        {
            "agreement": agreement,
            "form": form,
            "task": task,
            "task_open": task is not None and task.is_open and agreement.state == S.LEGAL_REVIEW,
            "reports": selectors.review_reports(agreement).filter(reviewer=request.user),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def review(request, pk: int):
    user = request.user
    agreement = _visible_or_404(user, pk)
    if not policies.is_independent_reviewer(agreement, user):
        raise exceptions.PermissionDenied(
            _("Only a reviewer who did not draft this agreement can review it.")
        )
    checklist = selectors.review_checklist(agreement)
    wanted = request.POST.get("task") if request.method == "POST" else request.GET.get("task")
    task = _open_review_task(agreement, user, wanted)
    if request.method == "GET":
        return _render_review(request, agreement, ReviewForm(checklist=checklist), task)
    form = ReviewForm(request.POST, checklist=checklist)
    if not form.is_valid():
        return _render_review(request, agreement, form, task, status=400)
    try:
        report = services.review_submit(
            actor=user,
            agreement=agreement,
            outcomes=form.outcomes(),
            decision=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
            task=task.pk if task is not None else None,
        )
    except DomainError as error:
        form.add_error(None, str(error))
        return _render_review(request, agreement, form, task, status=_status_for(error))
    if report.decision == "approve":
        messages.success(request, _("Your review is recorded: you approved the agreement."))
    else:
        messages.success(
            request,
            _("Your review is recorded: the agreement goes back to the legal officer for changes."),
        )
    return redirect(_process_url(agreement.pk))


# Reviewers -----------------------------------------------------------------------------------


def _render_reviewers(request, agreement, form=None, *, status=200):
    reviewers = list(selectors.named_reviewers(agreement))
    return render(
        request,
        "workflow/reviewers.html",
        {
            "agreement": agreement,
            "reviewers": reviewers,
            "form": form or ReviewerForm(exclude=[r.user_id for r in reviewers]),
            "editable": agreement.state in (S.DRAFT, S.NEGOTIATION),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def reviewers(request, pk: int):
    agreement = _visible_or_404(request.user, pk)
    _manager_or_403(
        agreement, request.user, _("Only the responsible legal officer can choose the reviewers.")
    )
    if request.method == "GET":
        return _render_reviewers(request, agreement)
    form = ReviewerForm(request.POST)
    if not form.is_valid():
        return _render_reviewers(request, agreement, form, status=400)
    user = form.cleaned_data["user"]
    try:
        services.reviewer_name(actor=request.user, agreement=agreement, user=user)
    except DomainError as error:
        form.add_error(None, str(error))
        return _render_reviewers(request, agreement, form, status=_status_for(error))
    messages.success(
        request,
        _("%(user)s is a reviewer of this agreement.")
        % {"user": user.get_full_name() or user.get_username()},
    )
    return redirect("workflow:reviewers", pk=agreement.pk)


@login_required
@require_POST
def reviewer_remove(request, pk: int, user_pk: int):
    agreement = _visible_or_404(request.user, pk)
    _manager_or_403(
        agreement, request.user, _("Only the responsible legal officer can choose the reviewers.")
    )
    user = get_user_model().objects.filter(pk=user_pk).first()
    if user is None:
        raise Http404(_("There is no such person."))
    try:
        services.reviewer_remove(actor=request.user, agreement=agreement, user=user)
    except DomainError as error:
        messages.error(request, str(error))
        return _render_reviewers(request, agreement, status=_status_for(error))
    messages.success(
        request,
        _("%(user)s is no longer a reviewer of this agreement.")
        % {"user": user.get_full_name() or user.get_username()},
    )
    return redirect("workflow:reviewers", pk=agreement.pk)


# Signing order -------------------------------------------------------------------------------


def _parties(agreement):
    return list(agreement.parties.select_related("organisation").order_by("position"))


def _signing_order_initial(agreement, parties) -> dict:
    config = AgreementWorkflow.objects.filter(agreement=agreement).first()
    if config is None:
        return {"order": "parallel"}
    initial = {"order": config.signing_order}
    for number, stage in enumerate(config.signing_stages or [], start=1):
        for party_pk in stage:
            initial[f"stage_{party_pk}"] = number
    return initial


def _render_signing_order(request, agreement, form, *, status=200):
    return render(
        request,
        "workflow/signing_order.html",
        {
            "agreement": agreement,
            "form": form,
            "plan": selectors.signing_plan(agreement),
            "order_labels": dict(SigningOrder.choices),
            "editable": agreement.state in (S.DRAFT, S.NEGOTIATION, S.LEGAL_REVIEW),
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def signing_order(request, pk: int):
    agreement = _visible_or_404(request.user, pk)
    _manager_or_403(
        agreement, request.user, _("Only the responsible legal officer can set the signing order.")
    )
    parties = _parties(agreement)
    if request.method == "GET":
        form = SigningOrderForm(initial=_signing_order_initial(agreement, parties), parties=parties)
        return _render_signing_order(request, agreement, form)
    form = SigningOrderForm(request.POST, parties=parties)
    if not form.is_valid():
        return _render_signing_order(request, agreement, form, status=400)
    order = form.cleaned_data["order"]
    try:
        services.signing_order_set(
            actor=request.user,
            agreement=agreement,
            order=order,
            stages=form.stages() if order == "staged" else None,
        )
    except DomainError as error:
        form.add_error(None, str(error))
        return _render_signing_order(request, agreement, form, status=_status_for(error))
    messages.success(request, _("The signing order is saved."))
    return redirect("workflow:signing_order", pk=agreement.pk)


# Signatories: delegate, decline ----------------------------------------------------------------


def _signatory_or_404(agreement, signatory_pk: int) -> Signatory:
    signatory = (
        Signatory.objects.filter(pk=signatory_pk, party__agreement_id=agreement.pk)
        .select_related("party__organisation", "user")
        .first()
    )
    if signatory is None:
        raise Http404(_("There is no such signatory of this agreement."))
    return signatory


@login_required
@require_http_methods(["GET", "POST"])
def signing_delegate(request, pk: int, signatory_pk: int):
    user = request.user
    agreement = _visible_or_404(user, pk)
    signatory = _signatory_or_404(agreement, signatory_pk)
    if not (signatory.user_id == user.pk or policies.is_responsible_legal_officer(agreement, user)):
        raise exceptions.PermissionDenied(
            _(
                "Only the signatory, or the responsible legal officer on their behalf, can "
                "delegate this signature."
            )
        )
    form = DelegateForm(request.POST or None, signatory=signatory)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.signing_delegate(
                    actor=user,
                    agreement=agreement,
                    signatory=signatory,
                    to_user=form.cleaned_data["to_user"],
                    act=form.cleaned_data["act"],
                    title=form.cleaned_data["title"],
                    fiscal_code=form.cleaned_data["fiscal_code"],
                )
            except DomainError as error:
                form.add_error(None, str(error))
                status = _status_for(error)
            else:
                delegate = form.cleaned_data["to_user"]
                messages.success(
                    request,
                    _("The signature is delegated to %(user)s, who can sign now.")
                    % {"user": delegate.get_full_name() or delegate.get_username()},
                )
                return redirect(_process_url(agreement.pk))
        else:
            status = 400
    return render(
        request,
        "workflow/delegate.html",
        {"agreement": agreement, "signatory": signatory, "form": form},
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def signing_decline(request, pk: int, signatory_pk: int):
    user = request.user
    agreement = _visible_or_404(user, pk)
    signatory = _signatory_or_404(agreement, signatory_pk)
    if signatory.user_id != user.pk:
        raise exceptions.PermissionDenied(
            _("Only the signatory can decline to sign for their party.")
        )
    form = DeclineForm(request.POST or None)
    status = 200
    if request.method == "POST":
        form.is_valid()
        try:
            services.signing_decline(
                actor=user,
                agreement=agreement,
                signatory=signatory,
                reason=form.cleaned_data.get("reason", ""),
            )
        except DomainError as error:
            form.add_error(None, str(error))
            status = _status_for(error)
        else:
            messages.success(
                request,
                _("You declined to sign. The responsible legal officer is told, with your reason."),
            )
            return redirect(_process_url(agreement.pk))
    return render(
        request,
        "workflow/decline.html",
        {"agreement": agreement, "signatory": signatory, "form": form},
        status=status,
    )


# Preferences ---------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def language(request):
    from django.conf import settings

    current = (
        UserPreferences.objects.filter(user=request.user).values_list("language", flat=True).first()
    )
    status = 200
    if request.method == "GET":
        form = LanguageForm(initial={"language": current or settings.LANGUAGE_CODE})
    else:
        form = LanguageForm(request.POST)
        if form.is_valid():
            try:
                services.preferences_set_language(
                    actor=request.user, user=request.user, language=form.cleaned_data["language"]
                )
            except DomainError as error:
                form.add_error(None, str(error))
                status = _status_for(error)
            else:
                messages.success(request, _("Your language preference is saved."))
                return redirect("workflow:language")
        else:
            status = 400
    return render(
        request,
        "workflow/language.html",
        {"form": form, "current": current},
        status=status,
    )
