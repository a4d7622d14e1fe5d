"""The signing pages of an agreement: its overview, the signature form, the validation reports.

Like agreements.views, these pages read through selectors and act only through
``signing.services``; the services check who may act and record refused attempts in the audit
log. A refusal becomes a message on the page with a 4xx status (403 not allowed, 409 not possible
in the present state, 400 anything else, such as a wrong password or a rejected signature), never
an error page.

Everyone who may see the agreement (``agreements.selectors.visible_agreements``) sees its signing
overview, the reports and the files; only a signatory sees the form to sign, and only for
themselves. Secrets (PIN, PKCS#12 file and password) go to the service and nowhere else: they are
neither logged nor rendered back.
"""

import base64

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import exceptions
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agreements import policies, preview
from agreements.models import Agreement, AgreementState, Signatory
from agreements.storage import read_checked
from agreements.views import _visible_or_404
from agreements.views_drafting import PDF_CONTENT_TYPE, PagePreview, _png
from signing import services
from signing.forms import SIGN_FORMS
from signing.models import Signature, SigningDocument
from signing.report import (
    COVERAGE_LABELS,
    LEVEL_LABELS,
    METHOD_LABELS,
    MODIFICATION_LABELS,
    agreement_signatures_pdf,
    indication_label,
    report_filename,
    report_json,
    report_pdf,
    validation_runs,
)
from signing.selectors import (
    SigningRow,
    agreement_signature,
    signing_document,
    signing_status,
    signing_ways,
)
from stipula.errors import (
    DomainError,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationFailed,
)
from stipula.http import download

INDICATION = Signature.Indication

SIGNING_SERVICES = {
    Signature.Method.PKCS11: services.signature_apply_pkcs11,
    Signature.Method.PKCS12: services.signature_apply_pkcs12,
    Signature.Method.EXTERNAL: services.signature_apply_external,
}


# Plumbing ------------------------------------------------------------------------------------


def _overview_url(agreement_pk: int, anchor: str = "") -> str:
    url = reverse("agreements:signing", args=[agreement_pk])
    return f"{url}#{anchor}" if anchor else url


def _report_url(signature: Signature) -> str:
    agreement_pk = signature.signatory.party.agreement_id
    return reverse("agreements:signature_report", args=[agreement_pk, signature.pk])


def _status_for(error: DomainError) -> int:
    if isinstance(error, PermissionDenied):
        return 403
    if isinstance(error, TransitionNotAllowed | ValidationFailed):
        return 409
    return 400


def _document_or_404(agreement: Agreement) -> SigningDocument:
    document = signing_document(agreement)
    if document is None:
        raise Http404(_("This agreement is not prepared for signing yet."))
    return document


def _signature_or_404(agreement: Agreement, signature_pk: int) -> Signature:
    signature = agreement_signature(agreement, signature_pk)
    if signature is None:
        raise Http404(_("There is no such signature on this agreement."))
    return signature


def _signature_pages(request, document: SigningDocument) -> list[PagePreview]:
    """The pages the signing added after the approved text: where the signature stamps are."""
    current = document.current_pdf.name
    try:
        total = preview.page_count(current, document.current_sha256)
        version = document.approved_version
        approved = preview.page_count(version.pdf.name, version.pdf_sha256) if version.pdf else 0
    except DomainError as error:
        messages.warning(request, str(error))
        return []
    first = approved + 1 if approved < total else max(total, 1)
    # The revision's hash is in the address: a page drawn for one revision is never shown for
    # the next one, however long the browser keeps it.
    return [
        PagePreview(
            n,
            reverse(
                "agreements:signing_page",
                args=[document.agreement_id, document.current_sha256, n],
            ),
        )
        for n in range(first, total + 1)
    ]


def _moment(value):
    return parse_datetime(value) if isinstance(value, str) and value else None


def _labels(report: dict) -> dict:
    return {
        "level": LEVEL_LABELS.get(report.get("level", ""), ""),
        "coverage": COVERAGE_LABELS.get(report.get("coverage", ""), ""),
        "modification_level": MODIFICATION_LABELS.get(report.get("modification_level", ""), ""),
    }


# Overview ------------------------------------------------------------------------------------


@login_required
@require_GET
def signing_overview(request, pk: int):
    user = request.user
    agreement = _visible_or_404(user, pk)
    document = signing_document(agreement)
    rows = signing_status(agreement, user)
    context = {
        "agreement": agreement,
        "document": document,
        "rows": rows,
        "my_rows": [row for row in rows if row.signatory.user_id == user.pk],
        "passed": sum(1 for row in rows if row.indication == INDICATION.PASSED),
        "pages": _signature_pages(request, document) if document is not None else [],
        "may_prepare": (
            document is None
            and agreement.state == AgreementState.SIGNATURE
            and policies.is_responsible_legal_officer(agreement, user)
        ),
    }
    return render(request, "signing/overview.html", context)


@login_required
@require_POST
def signing_prepare(request, pk: int):
    agreement = _visible_or_404(request.user, pk)
    try:
        services.signing_prepare(actor=request.user, agreement=agreement)
    except DomainError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, _("The document for signing is ready: the signatories can sign."))
    return redirect(_overview_url(agreement.pk))


@login_required
@require_GET
def signing_pdf(request, pk: int, which: str):
    """The prepared PDF (the approved content every signature covers) or the current revision
    (the one the next signatory signs, and the signed document once everyone has signed)."""
    agreement = _visible_or_404(request.user, pk)
    document = _document_or_404(agreement)
    if which == "prepared":
        name, sha256, kind = document.prepared_pdf.name, document.prepared_sha256, "approved"
    else:
        name, sha256 = document.current_pdf.name, document.current_sha256
        kind = "to-sign" if agreement.state == AgreementState.SIGNATURE else "signed"
    try:
        data = read_checked(name, sha256)
    except DomainError as error:
        messages.error(request, str(error))
        return redirect(_overview_url(agreement.pk))
    return download(
        data, f"agreement-{pk}-{kind}-{sha256[:12]}.pdf", PDF_CONTENT_TYPE, sha256=sha256
    )


@login_required
@require_GET
def signing_page(request, pk: int, sha256: str, page: int):
    """A page of the current revision (or of the prepared PDF), named by its SHA-256."""
    agreement = _visible_or_404(request.user, pk)
    document = _document_or_404(agreement)
    if sha256 == document.current_sha256:
        return _png(document.current_pdf.name, sha256, page)
    if sha256 == document.prepared_sha256:
        return _png(document.prepared_pdf.name, sha256, page)
    raise Http404(_("This revision of the document is not the current one: reload the page."))


@login_required
@require_GET
def signing_report_pdf(request, pk: int):
    agreement = _visible_or_404(request.user, pk)
    return download(
        agreement_signatures_pdf(agreement), f"agreement-{pk}-signatures.pdf", PDF_CONTENT_TYPE
    )


# Signing -------------------------------------------------------------------------------------


def _blocker(agreement: Agreement, document: SigningDocument | None, row: SigningRow) -> str:
    """Why the signatory cannot sign now ("" when they can)."""
    if agreement.state != AgreementState.SIGNATURE:
        return _(
            "The agreement is in state «%(state)s»: it can be signed only in state «%(signature)s»."
        ) % {"state": agreement.get_state_display(), "signature": AgreementState.SIGNATURE.label}
    if document is None:
        return _(
            "The document for signing is not prepared yet: the responsible legal officer "
            "prepares it."
        )
    if row.indication == INDICATION.PASSED:
        return _("You have signed this agreement already.")
    if row.indication == INDICATION.INDETERMINATE:
        return _(
            "Your signature is waiting for its validation to complete: it cannot be made again. "
            "Open its report to validate it again."
        )
    if row.indication == INDICATION.FAILED:
        return _(
            "Your signature failed validation and its field is taken: the responsible legal "
            "officer must withdraw the agreement and start it again."
        )
    if not row.field_name:
        return _("The document has no signature field for you.")
    return ""


def _render_sign(request, agreement, signatory, *, bound=None, status=200):
    document = signing_document(agreement)
    row = next(
        (r for r in signing_status(agreement, request.user) if r.signatory == signatory), None
    )
    if row is None:
        raise Http404(_("There is no such signatory of this agreement."))
    # A refused attempt shows its form again, with the reason on it, even when the page would
    # no longer offer that way.
    ways = row.ways or (signing_ways(request.user) if bound is not None else ())
    forms = []
    for way in ways:
        if bound is not None and bound.method == way:
            forms.append(bound)
        else:
            forms.append(SIGN_FORMS[way](prefix=way))
    context = {
        "agreement": agreement,
        "signatory": signatory,
        "row": row,
        "document": document,
        "forms": forms,
        "active": bound.method if bound is not None else (ways[0] if ways else ""),
        "blocker": "" if row.may_sign else _blocker(agreement, document, row),
        "method_labels": METHOD_LABELS,
        "has_remote_key": Signature.Method.PKCS11 in ways,
    }
    return render(request, "signing/sign.html", context, status=status)


def _own_signatory_or_error(request, agreement: Agreement, signatory_pk: int) -> Signatory:
    signatory = (
        Signatory.objects.filter(pk=signatory_pk, party__agreement_id=agreement.pk, required=True)
        .select_related("party__organisation", "user")
        .first()
    )
    if signatory is None:
        raise Http404(_("There is no such signatory of this agreement."))
    if signatory.user_id != request.user.pk:
        raise exceptions.PermissionDenied(
            _("Only %(name)s can sign in their own name.") % {"name": signatory.full_name}
        )
    return signatory


@login_required
@require_http_methods(["GET", "POST"])
def signature_sign(request, pk: int, signatory_pk: int):
    user = request.user
    agreement = _visible_or_404(user, pk)
    signatory = _own_signatory_or_error(request, agreement, signatory_pk)
    if request.method == "GET":
        return _render_sign(request, agreement, signatory)

    method = request.POST.get("method", "")
    # Whatever the page showed, the service decides (and records a refusal): a stale page that
    # still offers the form gets the service's own reason.
    if method not in signing_ways(user):
        messages.error(request, _("Choose one of the ways of signing offered on this page."))
        return _render_sign(request, agreement, signatory, status=400)
    form = SIGN_FORMS[method](request.POST, request.FILES, prefix=method)
    if not form.is_valid():
        return _render_sign(request, agreement, signatory, bound=form, status=400)
    try:
        signature = SIGNING_SERVICES[method](
            actor=user, agreement=agreement, signatory=signatory, **form.signing_arguments()
        )
    except DomainError as error:
        form.add_error(None, str(error))
        return _render_sign(request, agreement, signatory, bound=form, status=_status_for(error))
    if signature.indication == INDICATION.PASSED:
        messages.success(request, _("Signed. Your signature passed validation."))
    else:
        messages.warning(
            request,
            _(
                "Signed, but the validation is not complete (%(sub)s): the signature stays "
                "pending. Validate it again later from its report."
            )
            % {"sub": signature.sub_indication or signature.indication},
        )
    return redirect(_overview_url(agreement.pk, "signatories"))


# Reports -------------------------------------------------------------------------------------


@login_required
@require_GET
def signature_report(request, pk: int, signature_pk: int):
    agreement = _visible_or_404(request.user, pk)
    signature = _signature_or_404(agreement, signature_pk)
    runs = validation_runs(signature)
    current = runs[-1]
    report = current.report
    document = signing_document(agreement)
    return render(
        request,
        "signing/report.html",
        {
            "agreement": agreement,
            "signature": signature,
            "signatory": signature.signatory,
            "document": document,
            "runs": runs,
            "current": current,
            "report": report,
            "indication_label": indication_label(current.indication),
            "signing_time": _moment(report.get("signing_time")),
            "timestamp_time": _moment(report.get("timestamp_time")),
            "labels": _labels(report),
            "method_label": METHOD_LABELS.get(signature.method, signature.method),
            "may_revalidate": (
                current.indication == INDICATION.INDETERMINATE
                and agreement.state == AgreementState.SIGNATURE
                and (
                    signature.signatory.user_id == request.user.pk
                    or policies.is_responsible_legal_officer(agreement, request.user)
                )
            ),
            "timestamp_token_bytes": len(base64.b64decode(report.get("timestamp_token_b64") or "")),
        },
    )


@login_required
@require_GET
def signature_report_pdf(request, pk: int, signature_pk: int):
    agreement = _visible_or_404(request.user, pk)
    signature = _signature_or_404(agreement, signature_pk)
    return download(report_pdf(signature), report_filename(signature, "pdf"), PDF_CONTENT_TYPE)


@login_required
@require_GET
def signature_report_json(request, pk: int, signature_pk: int):
    agreement = _visible_or_404(request.user, pk)
    signature = _signature_or_404(agreement, signature_pk)
    response = JsonResponse(
        report_json(signature), json_dumps_params={"ensure_ascii": False, "indent": 2}
    )
    response["Content-Disposition"] = f'attachment; filename="{report_filename(signature, "json")}"'
    return response


@login_required
@require_POST
def signature_revalidate(request, pk: int, signature_pk: int):
    agreement = _visible_or_404(request.user, pk)
    signature = _signature_or_404(agreement, signature_pk)
    try:
        validation = services.signature_revalidate(actor=request.user, signature=signature)
    except DomainError as error:
        messages.error(request, str(error))
    else:
        outcome = {
            "indication": indication_label(validation.indication),
            "sub": validation.sub_indication,
        }
        if validation.indication == INDICATION.PASSED:
            messages.success(request, _("Validated again: «%(indication)s».") % outcome)
        elif validation.indication == INDICATION.INDETERMINATE:
            messages.warning(
                request,
                _("Validated again: still «%(indication)s» (%(sub)s). Try again later.") % outcome,
            )
        else:
            messages.error(request, _("Validated again: «%(indication)s» (%(sub)s).") % outcome)
    return redirect(_report_url(signature))
