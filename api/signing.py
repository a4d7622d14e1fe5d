"""Signing through the API: the overview of an agreement's signing, its PDFs, the three ways to
sign, the validation reports and validating a pending signature again.

Like signing.views, every action calls ``signing.services`` and nothing else: the services check
who may act, record a refused attempt in the audit log and raise a DomainError, which api.errors
answers in the one error shape. Who may see the agreement sees its signing; an agreement the user
may not see answers 404. Secrets (the token PIN, the PKCS#12 file and its password) are
write-only: they go to the service and nowhere else, never into an answer or a log.
"""

from django.http import Http404
from django.urls import path
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from agreements import policies
from agreements.models import Agreement, AgreementState, Signatory
from agreements.storage import read_checked
from api.common import (
    AGREEMENT_ID,
    ERRORS,
    READ_ERRORS,
    PdfRenderer,
    file_responses,
    path_id,
    visible_agreement,
)
from api.serializers_records import DOWNLOAD_ERRORS, UploadField
from signing import services
from signing.forms import MAX_PKCS12_BYTES, MAX_SIGNED_PDF_BYTES
from signing.models import Signature, SignatureValidation, SigningDocument
from signing.report import (
    agreement_signatures_pdf,
    indication_label,
    report_filename,
    report_json,
    report_pdf,
)
from signing.selectors import SigningRow, agreement_signature, signing_document, signing_status
from stipula.http import download

TAG = "signing"
PDF = "application/pdf"
INDICATION = Signature.Indication


# Serializers (what the answers look like) ----------------------------------------------------


class SigningDocumentSerializer(serializers.Serializer):
    approved_version = serializers.IntegerField(help_text="Number of the approved version.")
    approved_sha256 = serializers.CharField(
        help_text="SHA-256 of the prepared PDF: the content every signature must cover."
    )
    current_sha256 = serializers.CharField(
        help_text="SHA-256 of the latest revision: what the next signatory signs (and, once "
        "everyone has signed, the signed document)."
    )
    certified = serializers.BooleanField(help_text="Certified first by the system seal (DocMDP).")
    level = serializers.CharField(help_text="«B-LTA» once the document timestamp was added.")
    fields = serializers.DictField(
        child=serializers.CharField(), help_text="Signatory id -> name of their signature field."
    )


class ValidationSummarySerializer(serializers.Serializer):
    indication = serializers.ChoiceField(choices=INDICATION.choices)
    indication_label = serializers.CharField()
    sub_indication = serializers.CharField()
    level = serializers.CharField(help_text="B-B, B-T, B-LT or B-LTA.")
    coverage = serializers.CharField()
    modification_level = serializers.CharField()
    covers_approved = serializers.BooleanField(allow_null=True)
    signer_subject = serializers.CharField()
    fiscal_code = serializers.CharField()
    signing_time = serializers.DateTimeField(allow_null=True)
    timestamp_time = serializers.DateTimeField(allow_null=True)
    validated_at = serializers.DateTimeField()
    problems = serializers.ListField(child=serializers.CharField())


class SignatureSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    method = serializers.CharField(help_text="pkcs11, pkcs12 or external.")
    field_name = serializers.CharField()
    created_at = serializers.DateTimeField()
    pdf_sha256 = serializers.CharField(help_text="SHA-256 of the revision this signature made.")
    validation = ValidationSummarySerializer(help_text="The latest validation.")


class SignatoryRowSerializer(serializers.Serializer):
    order = serializers.IntegerField(help_text="Place in the signing order, from 1.")
    signatory_id = serializers.IntegerField()
    name = serializers.CharField()
    title = serializers.CharField()
    username = serializers.CharField(allow_null=True)
    party = serializers.CharField(help_text="The organisation the signatory signs for.")
    field_name = serializers.CharField()
    indication = serializers.CharField(
        allow_blank=True,
        help_text="PASSED, INDETERMINATE or FAILED as last validated; empty before the signature.",
    )
    signature = SignatureSummarySerializer(allow_null=True)
    may_sign = serializers.BooleanField(help_text="Whether the caller may sign this row now.")
    ways = serializers.ListField(
        child=serializers.ChoiceField(choices=Signature.Method.choices),
        help_text="How the caller can sign this row (empty when they may not).",
    )


class SigningOverviewSerializer(serializers.Serializer):
    agreement = serializers.IntegerField()
    state = serializers.ChoiceField(choices=AgreementState.choices)
    document = SigningDocumentSerializer(
        allow_null=True, help_text="Null until the document for signing is prepared."
    )
    signatories = SignatoryRowSerializer(many=True)
    required = serializers.IntegerField(help_text="How many signatures are required.")
    passed = serializers.IntegerField(help_text="How many of them passed validation.")
    may_prepare = serializers.BooleanField()


class Pkcs11SignSerializer(serializers.Serializer):
    pin = serializers.CharField(
        write_only=True,
        trim_whitespace=False,
        max_length=64,
        style={"input_type": "password"},
        help_text="PIN of your signing key (never stored, never echoed).",
    )


class Pkcs12SignSerializer(serializers.Serializer):
    pkcs12 = UploadField(
        max_bytes=MAX_PKCS12_BYTES,
        write_only=True,
        help_text="Your signature certificate and key (PKCS#12, .p12 or .pfx); never stored.",
    )
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        max_length=256,
        style={"input_type": "password"},
        help_text="Password of the PKCS#12 file (never stored, never echoed).",
    )


class ExternalSignSerializer(serializers.Serializer):
    signed_pdf = UploadField(
        max_bytes=MAX_SIGNED_PDF_BYTES,
        help_text="The current PDF (current.pdf) signed with your own tool in your field, "
        "nothing else changed.",
    )

    def validate_signed_pdf(self, data: bytes) -> bytes:
        if data.lstrip()[:5] != b"%PDF-":
            raise serializers.ValidationError(
                _("This is not a PDF: upload the signed PDF (a .p7m envelope is not accepted).")
            )
        return data


class SignResultSerializer(serializers.Serializer):
    signature = SignatureSummarySerializer()
    state = serializers.ChoiceField(
        choices=AgreementState.choices, help_text="The agreement's state afterwards."
    )
    message = serializers.CharField()


class RevalidateResultSerializer(serializers.Serializer):
    signature = serializers.IntegerField()
    validation = ValidationSummarySerializer()
    state = serializers.ChoiceField(
        choices=AgreementState.choices, help_text="The agreement's state afterwards."
    )
    message = serializers.CharField()


class ValidationRunSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=[("signing", "signing"), ("revalidation", "again")])
    time = serializers.DateTimeField(allow_null=True)
    actor = serializers.DictField(allow_null=True)
    indication = serializers.CharField()
    sub_indication = serializers.CharField()
    pdf_sha256 = serializers.CharField()
    report = serializers.DictField()


class SignatureReportSerializer(serializers.Serializer):
    """signing.report.report_json: the validation report of one signature (RULES.md S7)."""

    schema = serializers.CharField()
    title = serializers.CharField()
    language = serializers.CharField(allow_null=True)
    generated_at = serializers.DateTimeField(allow_null=True)
    agreement = serializers.DictField()
    signatory = serializers.DictField()
    signature = serializers.DictField()
    indication = serializers.CharField()
    indication_label = serializers.CharField()
    sub_indication = serializers.CharField()
    report = serializers.DictField(
        help_text="The latest validation report: indication, sub_indication, signer_subject, "
        "signer_fingerprint_sha256, fiscal_code, signing_time, timestamp_time, level, coverage, "
        "modification_level, covers_approved, trust_roots, timestamp_token_b64…"
    )
    documents = serializers.DictField()
    validations = ValidationRunSerializer(many=True)


# Building the answers ------------------------------------------------------------------------


def _validation_data(report: dict, indication: str, sub: str, when) -> dict:
    return {
        "indication": indication,
        "indication_label": indication_label(indication),
        "sub_indication": sub or "",
        "level": report.get("level") or "",
        "coverage": report.get("coverage") or "",
        "modification_level": report.get("modification_level") or "",
        "covers_approved": report.get("covers_approved"),
        "signer_subject": report.get("signer_subject") or "",
        "fiscal_code": report.get("fiscal_code") or "",
        "signing_time": report.get("signing_time") or None,
        "timestamp_time": report.get("timestamp_time") or None,
        "validated_at": when,
        "problems": [str(p) for p in report.get("problems") or []],
    }


def _latest(signature: Signature) -> SignatureValidation | None:
    validations = sorted(signature.validations.all(), key=lambda v: v.pk)
    return validations[-1] if validations else None


def _signature_data(signature: Signature, validation: SignatureValidation | None = None) -> dict:
    validation = validation or _latest(signature)
    if validation is not None:
        summary = _validation_data(
            validation.report or {},
            validation.indication,
            validation.sub_indication,
            validation.created_at,
        )
    else:
        summary = _validation_data(
            signature.report or {},
            signature.indication,
            signature.sub_indication,
            signature.created_at,
        )
    return {
        "id": signature.pk,
        "method": signature.method,
        "field_name": signature.field_name,
        "created_at": signature.created_at,
        "pdf_sha256": signature.pdf_sha256,
        "validation": summary,
    }


def _row_data(row: SigningRow) -> dict:
    signatory = row.signatory
    signature = None
    if row.signature is not None:
        signature = _signature_data(row.signature, row.validation)
    return {
        "order": row.order,
        "signatory_id": signatory.pk,
        "name": signatory.full_name,
        "title": signatory.title,
        "username": signatory.user.get_username() if signatory.user_id else None,
        "party": row.party.organisation.name,
        "field_name": row.field_name,
        "indication": row.indication,
        "signature": signature,
        "may_sign": row.may_sign,
        "ways": list(row.ways),
    }


def _document_data(document: SigningDocument | None) -> dict | None:
    if document is None:
        return None
    return {
        "approved_version": document.approved_version.number,
        "approved_sha256": document.prepared_sha256,
        "current_sha256": document.current_sha256,
        "certified": document.certified,
        "level": document.level,
        "fields": {str(k): str(v) for k, v in (document.fields or {}).items()},
    }


def _overview(agreement: Agreement, user) -> dict:
    agreement.refresh_from_db(fields=["state"])
    document = signing_document(agreement)
    rows = signing_status(agreement, user)
    return SigningOverviewSerializer(
        {
            "agreement": agreement.pk,
            "state": agreement.state,
            "document": _document_data(document),
            "signatories": [_row_data(row) for row in rows],
            "required": len(rows),
            "passed": sum(1 for row in rows if row.indication == INDICATION.PASSED),
            "may_prepare": (
                document is None
                and agreement.state == AgreementState.SIGNATURE
                and policies.is_responsible_legal_officer(agreement, user)
            ),
        }
    ).data


def _signatory_or_404(agreement: Agreement, signatory_pk: int) -> Signatory:
    signatory = (
        Signatory.objects.filter(pk=signatory_pk, party__agreement_id=agreement.pk, required=True)
        .select_related("party__organisation", "user")
        .first()
    )
    if signatory is None:
        raise Http404(_("There is no such signatory of this agreement."))
    return signatory


def _signature_or_404(agreement: Agreement, signature_pk: int) -> Signature:
    signature = agreement_signature(agreement, signature_pk)
    if signature is None:
        raise Http404(_("There is no such signature on this agreement."))
    return signature


def _document_or_404(agreement: Agreement) -> SigningDocument:
    document = signing_document(agreement)
    if document is None:
        raise Http404(_("This agreement is not prepared for signing yet."))
    return document


# Views ---------------------------------------------------------------------------------------

SIGNATORY = path_id("signatory_id", "Id of the signatory (see the overview).")
SIGNATURE = path_id("signature_id", "Id of the signature.")


class SigningOverviewView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID],
        operation_id="signing_overview",
        summary="The signing of an agreement",
        description="The document to sign with its SHA-256, the required signatories in signing "
        "order with their status, and each signature with its latest validation.",
        responses={200: SigningOverviewSerializer, **READ_ERRORS},
    )
    def get(self, request, id: int):
        agreement = visible_agreement(request.user, id)
        return Response(_overview(agreement, request.user))


class SigningPrepareView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID],
        operation_id="signing_prepare",
        summary="Prepare the document for signing",
        description="For an agreement in «signature» approved before approval prepared it: the "
        "approved PDF with one empty signature field per required signatory. The responsible "
        "legal officer only.",
        request=None,
        responses={200: SigningOverviewSerializer, **ERRORS},
    )
    def post(self, request, id: int):
        agreement = visible_agreement(request.user, id)
        services.signing_prepare(actor=request.user, agreement=agreement)
        return Response(_overview(agreement, request.user))


class SigningPdfView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]
    which = "prepared"

    def _get(self, request, id: int):
        agreement = visible_agreement(request.user, id)
        document = _document_or_404(agreement)
        if self.which == "prepared":
            name, sha256, kind = document.prepared_pdf.name, document.prepared_sha256, "approved"
        else:
            name, sha256 = document.current_pdf.name, document.current_sha256
            kind = "to-sign" if agreement.state == AgreementState.SIGNATURE else "signed"
        data = read_checked(name, sha256)
        return download(
            data, f"agreement-{agreement.pk}-{kind}-{sha256[:12]}.pdf", PDF, sha256=sha256
        )


class PreparedPdfView(SigningPdfView):
    which = "prepared"

    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID],
        operation_id="signing_document_pdf",
        summary="The approved PDF prepared for signing",
        description="The exact PDF every signature must cover (its SHA-256 is the overview's "
        "`approved_sha256`, also in the ETag).",
        responses=file_responses(PDF, "The prepared PDF.", DOWNLOAD_ERRORS),
    )
    def get(self, request, id: int):
        return self._get(request, id)


class CurrentPdfView(SigningPdfView):
    which = "current"

    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID],
        operation_id="signing_current_pdf",
        summary="The current revision: the PDF to sign next, or the signed PDF",
        description="Download this to sign it with your own tool, then upload it to "
        "`…/external/`. Once everyone has signed it is the signed document.",
        responses=file_responses(PDF, "The current revision.", DOWNLOAD_ERRORS),
    )
    def get(self, request, id: int):
        return self._get(request, id)


class SignaturesReportPdfView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID],
        operation_id="signing_report_pdf",
        summary="The validation report of every signature of the agreement (PDF)",
        responses=file_responses(PDF, "The report."),
    )
    def get(self, request, id: int):
        agreement = visible_agreement(request.user, id)
        return download(agreement_signatures_pdf(agreement), f"agreement-{id}-signatures.pdf", PDF)


def _signed(request, id: int, signatory_id: int, service, arguments: dict):
    agreement = visible_agreement(request.user, id)
    signatory = _signatory_or_404(agreement, signatory_id)
    signature = service(actor=request.user, agreement=agreement, signatory=signatory, **arguments)
    signature = _signature_or_404(agreement, signature.pk)
    agreement.refresh_from_db(fields=["state"])
    if signature.current_indication == INDICATION.PASSED:
        message = _("Signed. Your signature passed validation.")
    else:
        message = _(
            "Signed, but the validation is not complete (%(sub)s): the signature stays pending. "
            "Validate it again later."
        ) % {"sub": signature.sub_indication or signature.indication}
    body = {
        "signature": _signature_data(signature),
        "state": agreement.state,
        "message": message,
    }
    return Response(SignResultSerializer(body).data, status=status.HTTP_201_CREATED)


_SIGN_DESCRIPTION = (
    " The signature is validated at once: PASSED counts (the last one moves the agreement to "
    "«signed»), INDETERMINATE stays pending and can be validated again, FAILED is refused "
    "(422) and leaves nothing behind. Refusals are recorded in the audit log."
)


@method_decorator(sensitive_post_parameters("pin"), name="dispatch")
class SignPkcs11View(APIView):
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID, SIGNATORY],
        operation_id="signing_sign_pkcs11",
        summary="Sign with your remote signing key (PKCS#11 token and its PIN)",
        description="Only the signatory signs, in their own name." + _SIGN_DESCRIPTION,
        request=Pkcs11SignSerializer,
        responses={201: SignResultSerializer, **ERRORS},
    )
    def post(self, request, id: int, signatory_id: int):
        serializer = Pkcs11SignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _signed(
            request,
            id,
            signatory_id,
            services.signature_apply_pkcs11,
            {"pin": serializer.validated_data["pin"]},
        )


@method_decorator(sensitive_post_parameters("password"), name="dispatch")
class SignPkcs12View(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID, SIGNATORY],
        operation_id="signing_sign_pkcs12",
        summary="Sign with an uploaded PKCS#12 file and its password",
        description="multipart/form-data with `pkcs12` (the file) and `password`; neither is "
        "stored." + _SIGN_DESCRIPTION,
        request={"multipart/form-data": Pkcs12SignSerializer},
        responses={201: SignResultSerializer, **ERRORS},
    )
    def post(self, request, id: int, signatory_id: int):
        serializer = Pkcs12SignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return _signed(
            request,
            id,
            signatory_id,
            services.signature_apply_pkcs12,
            {"pkcs12": data["pkcs12"], "password": data.get("password", "")},
        )


class SignExternalView(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID, SIGNATORY],
        operation_id="signing_sign_external",
        summary="Upload the PDF you signed with your own tool",
        description="multipart/form-data with `signed_pdf`: the current revision (current.pdf) "
        "plus exactly your signature, in your field, nothing else changed." + _SIGN_DESCRIPTION,
        request={"multipart/form-data": ExternalSignSerializer},
        responses={201: SignResultSerializer, **ERRORS},
    )
    def post(self, request, id: int, signatory_id: int):
        serializer = ExternalSignSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return _signed(
            request,
            id,
            signatory_id,
            services.signature_apply_external,
            {"uploaded": serializer.validated_data["signed_pdf"]},
        )


class SignatureReportView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID, SIGNATURE],
        operation_id="signing_signature_report",
        summary="The validation report of one signature",
        description="Indication, sub-indication, signer, times, level, coverage, modification "
        "level, trust roots and timestamp token (RULES.md S7), and every validation run.",
        responses={200: SignatureReportSerializer, **READ_ERRORS},
    )
    def get(self, request, id: int, signature_id: int):
        agreement = visible_agreement(request.user, id)
        signature = _signature_or_404(agreement, signature_id)
        return Response(report_json(signature))


class SignatureReportPdfView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID, SIGNATURE],
        operation_id="signing_signature_report_pdf",
        summary="The validation report of one signature (PDF)",
        responses=file_responses(PDF, "The report."),
    )
    def get(self, request, id: int, signature_id: int):
        agreement = visible_agreement(request.user, id)
        signature = _signature_or_404(agreement, signature_id)
        return download(report_pdf(signature), report_filename(signature, "pdf"), PDF)


class SignatureRevalidateView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID, SIGNATURE],
        operation_id="signing_signature_revalidate",
        summary="Validate a pending signature again",
        description="Only an INDETERMINATE signature, by its signatory or the responsible legal "
        "officer. PASSED counts (and may complete the signing), INDETERMINATE stays pending.",
        request=None,
        responses={200: RevalidateResultSerializer, **ERRORS},
    )
    def post(self, request, id: int, signature_id: int):
        agreement = visible_agreement(request.user, id)
        signature = _signature_or_404(agreement, signature_id)
        validation = services.signature_revalidate(actor=request.user, signature=signature)
        agreement.refresh_from_db(fields=["state"])
        outcome = {
            "indication": indication_label(validation.indication),
            "sub": validation.sub_indication,
        }
        if validation.indication == INDICATION.PASSED:
            message = _("Validated again: «%(indication)s».") % outcome
        else:
            message = _("Validated again: «%(indication)s» (%(sub)s).") % outcome
        body = {
            "signature": signature.pk,
            "validation": _validation_data(
                validation.report or {},
                validation.indication,
                validation.sub_indication,
                validation.created_at,
            ),
            "state": agreement.state,
            "message": message,
        }
        return Response(RevalidateResultSerializer(body).data)


BASE = "agreements/<int:id>/signing/"

urlpatterns = [
    path(BASE, SigningOverviewView.as_view(), name="signing"),
    path(f"{BASE}prepare/", SigningPrepareView.as_view(), name="signing_prepare"),
    path(f"{BASE}document.pdf", PreparedPdfView.as_view(), name="signing_document_pdf"),
    path(f"{BASE}current.pdf", CurrentPdfView.as_view(), name="signing_current_pdf"),
    path(f"{BASE}report.pdf", SignaturesReportPdfView.as_view(), name="signing_report_pdf"),
    path(
        f"{BASE}signatories/<int:signatory_id>/pkcs11/",
        SignPkcs11View.as_view(),
        name="signing_sign_pkcs11",
    ),
    path(
        f"{BASE}signatories/<int:signatory_id>/pkcs12/",
        SignPkcs12View.as_view(),
        name="signing_sign_pkcs12",
    ),
    path(
        f"{BASE}signatories/<int:signatory_id>/external/",
        SignExternalView.as_view(),
        name="signing_sign_external",
    ),
    path(
        f"{BASE}signatures/<int:signature_id>/",
        SignatureReportView.as_view(),
        name="signing_signature",
    ),
    path(
        f"{BASE}signatures/<int:signature_id>/report.pdf",
        SignatureReportPdfView.as_view(),
        name="signing_signature_report_pdf",
    ),
    path(
        f"{BASE}signatures/<int:signature_id>/revalidate/",
        SignatureRevalidateView.as_view(),
        name="signing_signature_revalidate",
    ),
]
