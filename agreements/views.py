"""The web pages of Stipula, on viewflow's Material frontend.

Pages read through ``agreements.selectors`` and act only through ``agreements.services``. A
DomainError from a service becomes a message on the page (HTTP 200, or a redirect to the page),
never an error page; the services already record refused attempts in the audit log, so the views
write no audit rows and never touch the state themselves.

viewflow's AppConfig installs its SiteMiddleware (which puts the site and app of stipula/site.py on
``request.resolver_match`` for the Material templates) and its HotwireTurboMiddleware.
"""

import functools
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import exceptions
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from agreements import negotiation, policies, services
from agreements.forms import (
    DOCX_CONTENT_TYPE,
    AgreementCreateForm,
    AgreementFilterForm,
    CompareForm,
    PartyAddForm,
    RoundOpenForm,
    SignatoryAddForm,
    TemplateChoiceForm,
    TransitionForm,
    VersionUploadForm,
)
from agreements.models import Agreement, AgreementState
from agreements.policies import can_read_audit_log, can_use_template_library
from agreements.roles import ROLE_LABELS, Role, user_roles
from agreements.selectors import (
    agreement_events,
    agreement_for_detail,
    agreement_list_for,
    agreements_of_officer,
    agreements_signed_by,
    agreements_to_review,
    available_actions,
    invited_open_rounds,
    is_office_staff,
    round_list_for,
    timeline,
    visible_agreements,
    visible_version,
)
from agreements.transitions import TRANSITIONS
from audit.models import AuditEvent
from stipula.errors import DomainError
from templates_docx.selectors import template_list

S = AgreementState

PAGE_SIZE = 25
HOME_SECTION_SIZE = 10

MAIN_PATH = [S.DRAFT, S.NEGOTIATION, S.LEGAL_REVIEW, S.SIGNATURE, S.SIGNED, S.REGISTERED]
# Where each side exit leaves the main path when the audit trail does not say.
EXIT_FROM = {S.WITHDRAWN: None, S.REJECTED: S.LEGAL_REVIEW, S.ANNULLED: S.REGISTERED}

NOT_VISIBLE = gettext_lazy("There is no such agreement, or you may not see it.")


# Plumbing ------------------------------------------------------------------------------------


def _visible_or_404(user, pk: int) -> Agreement:
    # An agreement the user may not see answers as if it did not exist: its existence is news.
    try:
        return visible_agreements(user).get(pk=pk)
    except Agreement.DoesNotExist:
        raise Http404(NOT_VISIBLE) from None


def _detail_url(agreement: Agreement) -> str:
    return reverse("agreements:detail", args=[agreement.pk])


def _attempt(request, action, *, done: str) -> bool:
    """Call a service; a refusal becomes an error message for the user instead of an error page."""
    try:
        action()
    except DomainError as error:
        messages.error(request, str(error))
        return False
    messages.success(request, done)
    return True


# Home ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HomeSection:
    key: str
    title: str
    agreements: list
    empty: str
    more_url: str = ""


@login_required
def home(request):
    """What each role has to do first, one section per role the user holds."""
    user = request.user
    roles = user_roles(user)
    list_url = reverse("agreements:index")
    sections = []
    if Role.LEGAL_OFFICER.value in roles:
        sections.append(
            HomeSection(
                "mine",
                _("My agreements"),
                list(agreements_of_officer(user)[:HOME_SECTION_SIZE]),
                _("You are not responsible for any agreement yet."),
                list_url,
            )
        )
    if Role.REVIEWER.value in roles:
        sections.append(
            HomeSection(
                "to_review",
                _("Waiting for your legal review"),
                list(agreements_to_review(user)[:HOME_SECTION_SIZE]),
                _("No agreement is waiting for a review by you."),
                f"{list_url}?state={S.LEGAL_REVIEW}",
            )
        )
    if Role.SIGNATORY.value in roles:
        sections.append(
            HomeSection(
                "to_sign",
                _("Agreements you sign"),
                list(agreements_signed_by(user)[:HOME_SECTION_SIZE]),
                _("You are not a signatory of any agreement."),
            )
        )
    if Role.REGISTRAR.value in roles:
        sections.append(
            HomeSection(
                "signed",
                _("Signed, waiting for registration"),
                list(agreement_list_for(user, state=S.SIGNED)[:HOME_SECTION_SIZE]),
                _("No signed agreement is waiting for registration."),
                f"{list_url}?state={S.SIGNED}",
            )
        )
    if roles & {Role.AUDITOR.value, Role.ADMINISTRATOR.value}:
        sections.append(
            HomeSection(
                "recent",
                _("Latest agreements"),
                list(agreement_list_for(user)[:HOME_SECTION_SIZE]),
                _("There are no agreements yet."),
                list_url,
            )
        )
    if not roles:
        sections.append(
            HomeSection(
                "parties",
                _("Agreements of your organisations"),
                list(agreement_list_for(user)[:HOME_SECTION_SIZE]),
                _("None of your organisations takes part in an agreement."),
                list_url,
            )
        )
    invited_rounds = list(invited_open_rounds(user)[:HOME_SECTION_SIZE])
    return render(
        request,
        "agreements/home.html",
        {
            "sections": sections,
            "invited_rounds": invited_rounds,
            # Party representatives always see where their invitations will appear.
            "show_invitations": bool(invited_rounds) or not is_office_staff(user),
            "role_labels": [ROLE_LABELS[role] for role in Role.values if role in roles],
            "can_create": policies.can_create_agreement(user),
            "can_read_audit_log": can_read_audit_log(user),
            "can_use_template_library": can_use_template_library(user),
            "is_administrator": Role.ADMINISTRATOR.value in roles,
        },
    )


# List and detail -----------------------------------------------------------------------------


@login_required
def agreement_list(request):
    filters = AgreementFilterForm(request.GET)
    state = filters.cleaned_data["state"] if filters.is_valid() else ""
    paginator = Paginator(agreement_list_for(request.user, state=state or None), PAGE_SIZE)
    page_obj = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "agreements/list.html",
        {
            "page_obj": page_obj,
            "state": state,
            "state_label": S(state).label if state else "",
            "states": S.choices,
            "can_create": policies.can_create_agreement(request.user),
        },
    )


@dataclass(frozen=True)
class Step:
    state: str
    label: str
    # done, current, todo; bypassed (passed over, e.g. negotiation when submitted straight from
    # draft); closed (out of reach after a side exit); exit (the side exit taken).
    status: str


def _state_at(payload: dict, moment: str) -> str | None:
    """The state a transition event records ``before`` or ``after`` it, if it records one."""
    value = payload.get(moment)
    return value.get("state") if isinstance(value, dict) else None


def _states_reached(events: list[AuditEvent]) -> set[str]:
    reached = set()
    for event in events:
        payload = event.payload_data
        reached.update(filter(None, (_state_at(payload, "before"), _state_at(payload, "after"))))
    return reached


def _state_left(state: str, events: list[AuditEvent]) -> str | None:
    """The state the agreement was in when it took the side exit ``state``."""
    for event in reversed(events):
        payload = event.payload_data
        if _state_at(payload, "after") == state and _state_at(payload, "before"):
            return _state_at(payload, "before")
    return EXIT_FROM.get(state)


def lifecycle(agreement: Agreement, events: list[AuditEvent]) -> tuple[list[Step], Step | None]:
    """The main path with the current state marked, and the side exit if one was taken.

    Which earlier states were really gone through is read from the audit trail.
    """
    state = agreement.state
    reached = _states_reached(events)
    if state in MAIN_PATH:
        current, exit_step = MAIN_PATH.index(state), None
    else:
        left = _state_left(state, events)
        current = MAIN_PATH.index(left) + 1 if left in MAIN_PATH else 0
        exit_step = Step(state, S(state).label, "exit")
    steps = []
    for index, value in enumerate(MAIN_PATH):
        if index < current:
            status = "done" if value in reached or not reached else "bypassed"
        elif exit_step is not None:
            status = "closed"
        elif index == current:
            status = "current"
        else:
            status = "todo"
        steps.append(Step(value, value.label, status))
    return steps, exit_step


def _render_detail(request, pk: int, **bound_forms):
    user = request.user
    try:
        agreement = agreement_for_detail(user, pk)
    except Agreement.DoesNotExist:
        raise Http404(NOT_VISIBLE) from None
    events = list(agreement_events(agreement))
    steps, exit_step = lifecycle(agreement, events)
    can_edit = policies.can_edit(agreement, user)
    versions = list(agreement.versions.all())
    rounds = list(round_list_for(user, agreement))
    context = {
        "agreement": agreement,
        "parties": agreement.parties.all(),
        "versions": versions,
        "rounds": rounds,
        "open_round": next((r for r in rounds if r.is_open), None),
        "timeline": timeline(events),
        "steps": steps,
        "exit_step": exit_step,
        "actions": available_actions(agreement, user),
        "can_edit": can_edit,
    }
    if len(versions) >= 2:
        context["compare_form"] = CompareForm(
            initial={"old": versions[1].number, "new": versions[0].number},
            numbers=[v.number for v in versions],
        )
    if can_edit:
        context["party_form"] = bound_forms.get("party_form") or PartyAddForm(agreement=agreement)
        context["signatory_form"] = bound_forms.get("signatory_form") or SignatoryAddForm(
            agreement=agreement
        )
        context["version_form"] = bound_forms.get("version_form") or VersionUploadForm()
        templates = template_list()
        if templates:
            context["template_form"] = TemplateChoiceForm(templates=templates, agreement=agreement)
    context["may_open_round"] = (
        policies.is_responsible_legal_officer(agreement, user)
        and agreement.state == S.NEGOTIATION
        and context["open_round"] is None
        and bool(versions)
    )
    if context["may_open_round"]:
        context["round_form"] = bound_forms.get("round_form") or RoundOpenForm(
            agreement=agreement, representatives=negotiation.party_representatives(agreement)
        )
    return render(request, "agreements/detail.html", context)


@login_required
def agreement_detail(request, pk: int):
    return _render_detail(request, pk)


@login_required
def version_download(request, pk: int, number: int):
    version = visible_version(request.user, agreement_pk=pk, number=number)
    if version is None:
        raise Http404(_("There is no such version, or you may not see it."))
    try:
        docx = version.docx.open("rb")
    except FileNotFoundError:
        raise Http404(_("The file of this version is missing from the storage.")) from None
    return FileResponse(
        docx,
        as_attachment=True,
        filename=f"agreement-{pk}-v{version.number}.docx",
        content_type=DOCX_CONTENT_TYPE,
    )


# Actions -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def agreement_create(request):
    if request.method == "POST":
        form = AgreementCreateForm(request.POST)
        if form.is_valid():
            try:
                agreement = services.agreement_create(actor=request.user, **form.cleaned_data)
            except DomainError as error:
                form.add_error(None, str(error))
            else:
                messages.success(request, _("Agreement created in draft."))
                return redirect(_detail_url(agreement))
    elif not policies.can_create_agreement(request.user):
        raise exceptions.PermissionDenied(_("Only a legal officer can create an agreement."))
    else:
        form = AgreementCreateForm()
    return render(request, "agreements/create.html", {"form": form})


@login_required
@require_POST
def agreement_transition(request, pk: int, name: str):
    agreement = _visible_or_404(request.user, pk)
    service = services.TRANSITION_SERVICES.get(name)
    if service is None:
        raise Http404(_("There is no such action."))
    form = TransitionForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The request was incomplete: reload the page and try again."))
        return redirect(_detail_url(agreement))
    try:
        changed = service(
            actor=request.user,
            agreement=agreement,
            expected_state=form.cleaned_data["expected_state"],
            reason=form.cleaned_data["reason"],
        )
    except DomainError as error:
        messages.error(request, str(error))
    else:
        messages.success(
            request,
            _("«%(action)s» done: the agreement is now in state «%(state)s».")
            % {"action": TRANSITIONS[name].label, "state": changed.get_state_display()},
        )
    return redirect(_detail_url(agreement))


@login_required
@require_POST
def party_add(request, pk: int):
    agreement = _visible_or_404(request.user, pk)
    form = PartyAddForm(request.POST, agreement=agreement)
    if form.is_valid():
        add = functools.partial(
            services.agreement_add_party,
            actor=request.user,
            agreement=agreement,
            organisation=form.cleaned_data["organisation"],
            role_description=form.cleaned_data["role_description"],
        )
        if _attempt(request, add, done=_("Party added.")):
            return redirect(_detail_url(agreement))
    return _render_detail(request, pk, party_form=form)


@login_required
@require_POST
def signatory_add(request, pk: int):
    agreement = _visible_or_404(request.user, pk)
    form = SignatoryAddForm(request.POST, agreement=agreement)
    if form.is_valid():
        add = functools.partial(
            services.agreement_add_signatory,
            actor=request.user,
            agreement=agreement,
            **form.cleaned_data,
        )
        if _attempt(request, add, done=_("Signatory added.")):
            return redirect(_detail_url(agreement))
    return _render_detail(request, pk, signatory_form=form)


@login_required
@require_POST
def version_upload(request, pk: int):
    agreement = _visible_or_404(request.user, pk)
    form = VersionUploadForm(request.POST, request.FILES)
    if form.is_valid():
        store = functools.partial(
            services.version_create,
            actor=request.user,
            agreement=agreement,
            docx=form.cleaned_data["docx_bytes"],
            note=form.cleaned_data["note"],
        )
        if _attempt(request, store, done=_("New version of the text stored.")):
            return redirect(_detail_url(agreement))
    return _render_detail(request, pk, version_form=form)


# The audit log is the auditor's workspace: audit/views.py (route auditlog:index).
