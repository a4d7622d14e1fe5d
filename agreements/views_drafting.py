"""The pages for drafting and negotiating the text of an agreement.

Versions (their page, files, page previews), the comparison of two texts (redline), drafting from
a template, and the negotiation rounds with their comments and proposals. Like agreements.views,
these pages read through ``agreements.selectors`` and act only through the services; a refusal
becomes a message on the page.

Who may read which text is one rule, ``selectors.visible_versions``: office staff read every
version; a party's representative reads the versions they are invited to negotiate in a round,
and the approved text. A round and its proposals are for office staff and the round's invitees.
"""

import io
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agreements import negotiation, policies, preview, services
from agreements.forms import (
    DOCX_CONTENT_TYPE,
    CommentForm,
    CompareForm,
    DecisionForm,
    ProposalForm,
    RoundOpenForm,
    TemplateChoiceForm,
    TemplateDataForm,
    template_version_label,
)
from agreements.models import Agreement, AgreementState, AgreementVersion, NegotiationRound
from agreements.redline import compare, summary_text
from agreements.selectors import (
    latest_rendered_version,
    round_comment,
    round_comments,
    round_for_page,
    round_proposals,
    version_list_for,
    visible_proposal,
    visible_version,
    visible_versions,
)
from agreements.storage import read_checked
from agreements.views import _render_detail, _visible_or_404
from stipula.errors import DomainError, NotFound
from stipula.http import stored_file_response
from templates_docx.context import user_variables
from templates_docx.conversion import docx_to_pdf
from templates_docx.selectors import template_list, template_version_by_id

PDF_CONTENT_TYPE = "application/pdf"


def _no_such_version():
    return Http404(_("There is no such version, or you may not see it."))


def _no_such_round():
    return Http404(_("There is no such negotiation round, or you are not invited to it."))


def _version_or_404(user, pk: int, number: int) -> AgreementVersion:
    version = visible_version(user, agreement_pk=pk, number=number)
    if version is None:
        raise _no_such_version()
    return version


def _detail_url(agreement_pk: int, anchor: str = "") -> str:
    url = reverse("agreements:detail", args=[agreement_pk])
    return f"{url}#{anchor}" if anchor else url


@dataclass(frozen=True)
class PagePreview:
    number: int
    url: str


def _page_previews(request, pdf_name: str, pdf_sha256: str, url_for_page) -> list[PagePreview]:
    """The pages to show as thumbnails; a PDF that cannot be read gets a warning instead."""
    if not pdf_name:
        return []
    try:
        count = preview.page_count(pdf_name, pdf_sha256)
    except DomainError as error:
        messages.warning(request, str(error))
        return []
    return [PagePreview(n, url_for_page(n)) for n in range(1, count + 1)]


def _png(pdf_name: str, pdf_sha256: str, page: int) -> HttpResponse:
    try:
        png = preview.page_png(pdf_name, pdf_sha256, page)
    except NotFound as error:
        raise Http404(str(error)) from None
    except DomainError as error:
        return HttpResponse(str(error), status=503, content_type="text/plain; charset=utf-8")
    response = HttpResponse(png, content_type="image/png")
    # The picture of a page never changes (the PDF is named by its hash), but it is not public.
    response["Cache-Control"] = "private, max-age=86400"
    return response


# Versions ------------------------------------------------------------------------------------


@login_required
@require_GET
def version_detail(request, pk: int, number: int):
    user = request.user
    version = _version_or_404(user, pk, number)
    agreement = version.agreement
    parent_visible = (
        version.parent_id is not None
        and visible_versions(user, agreement).filter(pk=version.parent_id).exists()
    )
    pages = _page_previews(
        request,
        version.pdf.name,
        version.pdf_sha256,
        lambda n: reverse("agreements:version_page", args=[pk, number, n]),
    )
    return render(
        request,
        "agreements/version.html",
        {
            "agreement": agreement,
            "version": version,
            "parent_visible": parent_visible,
            "pages": pages,
            "compare_parent_url": (
                reverse("agreements:compare", args=[pk])
                + "?"
                + urlencode({"old": version.parent.number, "new": version.number})
                if parent_visible
                else ""
            ),
        },
    )


@login_required
@require_GET
def version_pdf(request, pk: int, number: int):
    version = _version_or_404(request.user, pk, number)
    if not version.pdf:
        raise Http404(_("This version has no PDF."))
    return stored_file_response(
        version.pdf,
        filename=f"agreement-{pk}-v{version.number}.pdf",
        content_type=PDF_CONTENT_TYPE,
        as_attachment=False,
    )


@login_required
@require_GET
def version_page(request, pk: int, number: int, page: int):
    version = _version_or_404(request.user, pk, number)
    if not version.pdf:
        raise Http404(_("This version has no PDF."))
    return _png(version.pdf.name, version.pdf_sha256, page)


# Comparison (redline) ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Text:
    """One side of a comparison: a label for the user and the stored DOCX."""

    label: str
    docx: object
    sha256: str


def _redline(
    request, *, agreement: Agreement, old: _Text, new: _Text, fmt: str, urls: dict, filename: str
):
    """The comparison as a page, or its DOCX (Word tracked changes), or that DOCX as a PDF.

    ``urls`` holds ``page``, ``docx``, ``pdf`` and ``back``: where the page and its downloads are,
    and where to go when the comparison cannot be made.
    """
    try:
        redline = compare(read_checked(old.docx, old.sha256), read_checked(new.docx, new.sha256))
    except DomainError as error:
        messages.error(request, str(error))
        return redirect(urls["back"])
    title = _("Agreement no. %(number)d: changes from %(old)s to %(new)s") % {
        "number": agreement.pk,
        "old": old.label,
        "new": new.label,
    }
    summary = summary_text(redline)
    if fmt in ("docx", "pdf"):
        docx = redline.to_docx(title=title, summary=summary)
        if fmt == "docx":
            return FileResponse(
                io.BytesIO(docx),
                as_attachment=True,
                filename=f"{filename}.docx",
                content_type=DOCX_CONTENT_TYPE,
            )
        try:
            pdf = docx_to_pdf(docx)
        except DomainError as error:
            messages.error(request, str(error))
            return redirect(urls["page"])
        return FileResponse(
            io.BytesIO(pdf),
            as_attachment=True,
            filename=f"{filename}.pdf",
            content_type=PDF_CONTENT_TYPE,
        )
    return render(
        request,
        "agreements/redline.html",
        {
            "agreement": agreement,
            "title": title,
            "summary": summary,
            "has_changes": redline.has_changes,
            "redline_html": redline.to_html(
                inserted_label=_("Inserted"), deleted_label=_("Deleted")
            ),
            "old": old,
            "new": new,
            "urls": urls,
            "compare_form": urls.get("form"),
        },
    )


@login_required
@require_GET
def version_compare(request, pk: int, fmt: str = "html"):
    user = request.user
    agreement = _visible_or_404(user, pk)
    versions = {v.number: v for v in version_list_for(user, agreement)}
    form = CompareForm(request.GET, numbers=sorted(versions, reverse=True))
    if not form.is_valid():
        for error in form.non_field_errors() or [_("Choose two versions you may read.")]:
            messages.error(request, error)
        return redirect(_detail_url(pk, "versions"))
    old, new = versions[form.cleaned_data["old"]], versions[form.cleaned_data["new"]]
    query = "?" + urlencode({"old": old.number, "new": new.number})
    base = reverse("agreements:compare", args=[pk])
    return _redline(
        request,
        agreement=agreement,
        old=_Text(_("version %(number)d") % {"number": old.number}, old.docx, old.docx_sha256),
        new=_Text(_("version %(number)d") % {"number": new.number}, new.docx, new.docx_sha256),
        fmt=fmt,
        urls={
            "page": base + query,
            "docx": reverse("agreements:compare_docx", args=[pk]) + query,
            "pdf": reverse("agreements:compare_pdf", args=[pk]) + query,
            "back": _detail_url(pk, "versions"),
            "form": form,
        },
        filename=f"agreement-{pk}-v{old.number}-v{new.number}-redline",
    )


# Drafting from a template --------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def draft_from_template(request, pk: int):
    user = request.user
    agreement = _visible_or_404(user, pk)
    if request.method == "GET" and not policies.can_edit(agreement, user):
        messages.error(
            request,
            _(
                "Only the responsible legal officer drafts the text, while the agreement is in "
                "draft or negotiation."
            ),
        )
        return redirect(_detail_url(pk))
    templates = template_list()
    params = request.POST if request.method == "POST" else request.GET
    chosen = params.get("template_version")
    chooser = TemplateChoiceForm(
        initial={"template_version": chosen} if chosen else None,
        templates=templates,
        agreement=agreement,
    )
    context = {"agreement": agreement, "chooser": chooser, "has_templates": bool(templates)}
    try:
        template_version = template_version_by_id(int(chosen or ""))
    except ValueError:
        return render(request, "agreements/draft.html", context)
    except DomainError as error:
        messages.error(request, str(error))
        return render(request, "agreements/draft.html", context)
    previous = latest_rendered_version(agreement, template_version.template_id)
    variables = user_variables(template_version.variables)
    if request.method == "POST":
        form = TemplateDataForm(request.POST, variables=variables)
        if form.is_valid():
            try:
                version = services.version_render(
                    actor=user,
                    agreement=agreement,
                    template_version=template_version,
                    data=form.template_data(),
                    note=form.cleaned_data["note"],
                )
            except DomainError as error:
                messages.error(request, str(error))
            else:
                messages.success(
                    request,
                    _("Version %(number)d drafted from «%(template)s».")
                    % {
                        "number": version.number,
                        "template": template_version_label(template_version),
                    },
                )
                return redirect("agreements:version_detail", pk=pk, number=version.number)
    else:
        form = TemplateDataForm(variables=variables, previous=previous.data if previous else None)
    context.update(
        {
            "template_version": template_version,
            "template_label": template_version_label(template_version),
            "previous": previous,
            "form": form,
        }
    )
    return render(request, "agreements/draft.html", context)


# Negotiation ---------------------------------------------------------------------------------


def _round_url(round_: NegotiationRound, anchor: str = "") -> str:
    url = reverse("agreements:round", args=[round_.agreement_id, round_.number])
    return f"{url}#{anchor}" if anchor else url


def _round_or_404(user, pk: int, number: int) -> NegotiationRound:
    round_ = round_for_page(user, agreement_pk=pk, number=number)
    if round_ is None:
        raise _no_such_round()
    return round_


@login_required
@require_POST
def round_open(request, pk: int):
    user = request.user
    agreement = _visible_or_404(user, pk)
    form = RoundOpenForm(
        request.POST,
        agreement=agreement,
        representatives=negotiation.party_representatives(agreement),
    )
    if form.is_valid():
        try:
            round_ = negotiation.round_open(
                actor=user,
                agreement=agreement,
                version=form.cleaned_data["version"],
                invitees=form.invited_users(),
                note=form.cleaned_data["note"],
            )
        except DomainError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request,
                _("Round %(number)d opened: the people invited can now comment and propose.")
                % {"number": round_.number},
            )
            return redirect(_round_url(round_))
    return _render_detail(request, pk, round_form=form)


def _render_round(request, round_: NegotiationRound, **bound_forms):
    user = request.user
    agreement = round_.agreement
    invitations = list(round_.invitations.all())
    invited = any(invitation.user_id == user.pk for invitation in invitations)
    is_officer = policies.is_responsible_legal_officer(agreement, user)
    negotiating = agreement.state == AgreementState.NEGOTIATION
    proposals = list(round_proposals(round_))
    version = round_.version
    context = {
        "agreement": agreement,
        "round": round_,
        "version": version,
        "invitations": invitations,
        "thread": round_comments(round_),
        "proposals": proposals,
        "is_officer": is_officer,
        "invited": invited,
        "may_comment": round_.is_open and (invited or is_officer),
        "may_propose": round_.is_open and invited and negotiating,
        "may_decide": is_officer and negotiating,
        "may_close": is_officer and round_.is_open,
        "pages": _page_previews(
            request,
            version.pdf.name,
            version.pdf_sha256,
            lambda n: reverse("agreements:version_page", args=[agreement.pk, version.number, n]),
        ),
        "decision": bound_forms.get("decision"),
    }
    # A refused form comes back with what was typed, even if the round closed meanwhile: the
    # text is not lost.
    if context["may_comment"] or "comment_form" in bound_forms:
        comment_form = bound_forms.get("comment_form") or CommentForm()
        context["comment_form"] = comment_form
        parent_id = comment_form["parent"].value()
        context["replying_to"] = next(
            (c for c, _depth in context["thread"] if str(c.pk) == str(parent_id or "")), None
        )
    if context["may_propose"] or "proposal_form" in bound_forms:
        context["proposal_form"] = bound_forms.get("proposal_form") or ProposalForm()
    return render(request, "agreements/round.html", context)


@login_required
@require_GET
def round_detail(request, pk: int, number: int):
    return _render_round(request, _round_or_404(request.user, pk, number))


@login_required
@require_POST
def round_close(request, pk: int, number: int):
    round_ = _round_or_404(request.user, pk, number)
    try:
        negotiation.round_close(actor=request.user, negotiation_round=round_)
    except DomainError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("Round %(number)d closed.") % {"number": round_.number})
    return redirect(_round_url(round_))


@login_required
@require_POST
def comment_add(request, pk: int, number: int):
    round_ = _round_or_404(request.user, pk, number)
    form = CommentForm(request.POST)
    if form.is_valid():
        parent_id = form.cleaned_data["parent"]
        parent = round_comment(round_, parent_id) if parent_id else None
        if parent_id and parent is None:
            messages.error(request, _("The comment you reply to is not in this round."))
        else:
            try:
                comment = negotiation.comment_add(
                    actor=request.user,
                    negotiation_round=round_,
                    text=form.cleaned_data["text"],
                    anchor=form.cleaned_data["anchor"],
                    parent=parent,
                )
            except DomainError as error:
                messages.error(request, str(error))
            else:
                messages.success(request, _("Comment added."))
                return redirect(_round_url(round_, f"comment-{comment.pk}"))
    return _render_round(request, round_, comment_form=form)


@login_required
@require_POST
def proposal_submit(request, pk: int, number: int):
    round_ = _round_or_404(request.user, pk, number)
    form = ProposalForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            proposal = negotiation.proposal_submit(
                actor=request.user,
                negotiation_round=round_,
                docx=form.cleaned_data["docx_bytes"],
                note=form.cleaned_data["note"],
            )
        except DomainError as error:
            messages.error(request, str(error))
        else:
            messages.success(
                request, _("Your proposal was sent: the legal officer will accept or reject it.")
            )
            return redirect(_round_url(round_, f"proposal-{proposal.pk}"))
    return _render_round(request, round_, proposal_form=form)


def _proposal_or_404(user, pk: int, proposal_pk: int):
    proposal = visible_proposal(user, agreement_pk=pk, proposal_pk=proposal_pk)
    if proposal is None:
        raise Http404(_("There is no such proposal, or you may not see it."))
    return proposal


def _decide(request, pk: int, proposal_pk: int, *, accept: bool):
    user = request.user
    proposal = _proposal_or_404(user, pk, proposal_pk)
    form = DecisionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        if accept:
            version = negotiation.proposal_accept(actor=user, proposal=proposal, note=note)
        else:
            negotiation.proposal_reject(actor=user, proposal=proposal, note=note)
    except DomainError as error:
        messages.error(request, str(error))
        round_ = _round_or_404(user, pk, proposal.round.number)
        return _render_round(request, round_, decision={"proposal": proposal.pk, "note": note})
    if accept:
        messages.success(
            request,
            _("Proposal accepted: it is now version %(number)d, the current text.")
            % {"number": version.number},
        )
    else:
        messages.success(request, _("Proposal rejected."))
    return redirect(_round_url(proposal.round, f"proposal-{proposal.pk}"))


@login_required
@require_POST
def proposal_accept(request, pk: int, proposal_pk: int):
    return _decide(request, pk, proposal_pk, accept=True)


@login_required
@require_POST
def proposal_reject(request, pk: int, proposal_pk: int):
    return _decide(request, pk, proposal_pk, accept=False)


@login_required
@require_GET
def proposal_file(request, pk: int, proposal_pk: int, fmt: str):
    proposal = _proposal_or_404(request.user, pk, proposal_pk)
    name = f"agreement-{pk}-round-{proposal.round.number}-proposal-{proposal.pk}"
    if fmt == "pdf":
        return stored_file_response(
            proposal.pdf,
            filename=f"{name}.pdf",
            content_type=PDF_CONTENT_TYPE,
            as_attachment=False,
        )
    return stored_file_response(
        proposal.docx, filename=f"{name}.docx", content_type=DOCX_CONTENT_TYPE
    )


@login_required
@require_GET
def proposal_redline(request, pk: int, proposal_pk: int, fmt: str = "html"):
    proposal = _proposal_or_404(request.user, pk, proposal_pk)
    base = proposal.round.version
    args = [pk, proposal.pk]
    return _redline(
        request,
        agreement=proposal.round.agreement,
        old=_Text(_("version %(number)d") % {"number": base.number}, base.docx, base.docx_sha256),
        new=_Text(
            _("the proposal of %(party)s") % {"party": proposal.party.organisation.name},
            proposal.docx,
            proposal.docx_sha256,
        ),
        fmt=fmt,
        urls={
            "page": reverse("agreements:proposal_redline", args=args),
            "docx": reverse("agreements:proposal_redline_docx", args=args),
            "pdf": reverse("agreements:proposal_redline_pdf", args=args),
            "back": _round_url(proposal.round, f"proposal-{proposal.pk}"),
            "round": _round_url(proposal.round, f"proposal-{proposal.pk}"),
        },
        filename=f"agreement-{pk}-proposal-{proposal.pk}-redline",
    )
