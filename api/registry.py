"""The registry through the API: registers, registrations (register, annul, reclassify), their
documents (signed PDF, attachments, segnatura XML, receipt) and the daily registers.

Like registry.views, reads go through ``registry.selectors`` and actions through
``registry.services``, which check the registrar and record a refused attempt. Registrars,
administrators and auditors read the registry (others: 403); an action by anyone else reaches the
service, which refuses it and records the refusal.
"""

import datetime

from django.http import Http404
from django.urls import path
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from agreements.models import Agreement
from agreements.selectors import visible_agreements
from api.common import (
    ERRORS,
    LIST_ERRORS,
    READ_ERRORS,
    PdfRenderer,
    file_responses,
    json_errors,
    path_id,
)
from api.pagination import Pagination
from api.serializers_records import (
    DOWNLOAD_ERRORS,
    PAGE_PARAMETERS,
    OctetRenderer,
    UploadField,
    XmlRenderer,
    id_field,
    paged,
)
from registry import selectors, services
from registry.models import (
    DailyRegister,
    Register,
    Registration,
    hex_to_base64,
)
from registry.selectors import RegistrationFilter, file_label, registered_bytes
from registry.services import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS, Attachment
from stipula.http import download

TAG = "registry"
REGISTRATION_ID = path_id("id", "Id of the registration.")
INDEX = OpenApiParameter(
    "index",
    {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    OpenApiParameter.PATH,
    description="Position of the attachment, from 0.",
)
PDF = "application/pdf"
XML = "application/xml"
JSON_FILE = "application/json"


def _require_reader(user) -> None:
    if not selectors.can_read_registry(user):
        raise PermissionDenied(_("Only registrars, administrators and auditors open the registry."))


# Serializers ---------------------------------------------------------------------------------


class RegisterSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=Register.Kind.choices)
    administration_code = serializers.CharField(help_text="IPA code of the administration.")
    aoo_code = serializers.CharField(help_text="Code of the organisational area (AOO).")
    active = serializers.BooleanField(help_text="Open for new registrations.")
    registrations = serializers.IntegerField(help_text="How many registrations it holds.")
    last_registered_at = serializers.DateTimeField(allow_null=True)


class PartyRecordSerializer(serializers.Serializer):
    position = serializers.IntegerField()
    name = serializers.CharField()
    kind = serializers.CharField(allow_blank=True)
    fiscal_code = serializers.CharField(allow_blank=True)
    vat_number = serializers.CharField(allow_blank=True)
    ipa_code = serializers.CharField(allow_blank=True)


class ImprontaSerializer(serializers.Serializer):
    name = serializers.CharField()
    sha256 = serializers.CharField(help_text="The impronta: SHA-256 of the stored bytes, hex.")
    sha256_base64 = serializers.CharField(help_text="The same impronta in base64.")
    size = serializers.IntegerField()


class AttachmentSerializer(ImprontaSerializer):
    index = serializers.IntegerField()
    mime_type = serializers.CharField()


class AnnulmentSerializer(serializers.Serializer):
    reason = serializers.CharField()
    authorised_by = serializers.CharField()
    authorising_act = serializers.CharField()
    operator = serializers.CharField()
    annulled_at = serializers.DateTimeField()
    annulment_date = serializers.DateField()


class ChangeSerializer(serializers.Serializer):
    field = serializers.ChoiceField(choices=[(f, f) for f in Registration.MUTABLE_FIELDS])
    old_value = serializers.CharField(allow_blank=True)
    new_value = serializers.CharField(allow_blank=True)
    changed_at = serializers.DateTimeField()
    changed_by = serializers.CharField()


class SegnaturaCheckSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    schema_valid = serializers.BooleanField()
    signature_valid = serializers.BooleanField()
    digests_match = serializers.BooleanField()
    signer = serializers.CharField(allow_blank=True)
    problems = serializers.ListField(child=serializers.CharField())


class RegistrationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField(help_text="«REGISTER 0000001/2026».")
    register = serializers.CharField(help_text="The register's code.")
    year = serializers.IntegerField()
    number = serializers.IntegerField()
    formatted_number = serializers.CharField(help_text="The number with 7 digits.")
    registered_at = serializers.DateTimeField()
    registration_date = serializers.DateField(help_text="Europe/Rome calendar day.")
    agreement = serializers.IntegerField()
    subject = serializers.CharField()
    parties = PartyRecordSerializer(many=True)
    document = ImprontaSerializer()
    attachments = AttachmentSerializer(many=True)
    operator = serializers.CharField()
    classification = serializers.CharField(allow_blank=True)
    assigned_to = serializers.CharField(allow_blank=True)
    public_document = serializers.BooleanField()
    annulled = serializers.BooleanField()
    annulment = AnnulmentSerializer(allow_null=True)


class RegistrationDetailSerializer(RegistrationSerializer):
    changes = ChangeSerializer(many=True)
    segnatura = SegnaturaCheckSerializer(
        allow_null=True, help_text="The check of the sealed segnatura XML."
    )


class RegistrationQuerySerializer(serializers.Serializer):
    register = serializers.CharField(required=False, max_length=16, help_text="Register code.")
    year = serializers.IntegerField(required=False, min_value=1900, max_value=9999)
    number = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    agreement = id_field(required=False)
    annulled = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: annulled only; false: not annulled only; absent: all.",
    )


class AttachmentUploadField(UploadField):
    """A registered attachment: the uploaded file's name, bytes and declared media type."""

    def to_internal_value(self, data):
        content = super().to_internal_value(data)
        return Attachment(
            name=getattr(data, "name", "") or "",
            data=content,
            mime_type=getattr(data, "content_type", "") or "application/octet-stream",
        )


class RegisterRequestSerializer(serializers.Serializer):
    agreement = id_field(help_text="The signed agreement to register.")
    register = serializers.CharField(max_length=16, help_text="Code of the register.")
    classification = serializers.CharField(
        required=False, allow_blank=True, max_length=255, default=""
    )
    assigned_to = serializers.CharField(
        required=False, allow_blank=True, max_length=255, default=""
    )
    public_document = serializers.BooleanField(required=False, default=False)
    attachments = serializers.ListField(
        child=AttachmentUploadField(max_bytes=MAX_ATTACHMENT_BYTES),
        required=False,
        default=list,
        max_length=MAX_ATTACHMENTS,
        help_text="Files registered with the signed PDF (multipart only), each with its own "
        "impronta.",
    )


class ChangeRequestSerializer(serializers.Serializer):
    classification = serializers.CharField(required=False, allow_blank=True, max_length=255)
    assigned_to = serializers.CharField(required=False, allow_blank=True, max_length=255)
    public_document = serializers.BooleanField(required=False)


class AnnulRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    authorised_by = serializers.CharField(
        max_length=255, help_text="The person responsible who authorised the annulment."
    )
    authorising_act = serializers.CharField(
        max_length=255, help_text="Reference of the authorising act, e.g. «Determina n. 15/2026»."
    )


class PendingAgreementSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField()
    kind = serializers.CharField()
    parties = serializers.ListField(child=serializers.CharField())
    signed_sha256 = serializers.CharField(allow_blank=True)
    updated_at = serializers.DateTimeField()


class DailyRegisterSerializer(serializers.Serializer):
    day = serializers.DateField()
    produced_at = serializers.DateTimeField()
    produced_by = serializers.CharField()
    registrations = serializers.IntegerField()
    annulments = serializers.IntegerField()
    changes = serializers.IntegerField()
    pdf_sha256 = serializers.CharField()
    json_sha256 = serializers.CharField()
    due_by = serializers.DateField(help_text="Due for preservation by the end of this day.")


class DailyProduceSerializer(serializers.Serializer):
    day = serializers.DateField()
    close_today = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Needed for today's register: producing it closes today for registrations.",
    )

    def validate(self, attrs):
        if attrs["day"] == services.rome_now().date() and not attrs.get("close_today"):
            raise serializers.ValidationError(
                {
                    "close_today": _(
                        "This is today's register: producing it closes today for registrations, "
                        "annulments and changes. Set close_today to confirm."
                    )
                }
            )
        return attrs


# Building the answers ------------------------------------------------------------------------


def _registration_data(registration: Registration, *, detail: bool = False) -> dict:
    annulment = getattr(registration, "annulment", None)
    data = {
        "id": registration.pk,
        "label": registration.label,
        "register": registration.register.code,
        "year": registration.year,
        "number": registration.number,
        "formatted_number": registration.formatted_number,
        "registered_at": registration.registered_at,
        "registration_date": registration.registration_date,
        "agreement": registration.agreement_id,
        "subject": registration.subject,
        "parties": [
            {
                "position": p.get("position") or 0,
                "name": p.get("name") or "",
                "kind": p.get("kind") or "",
                "fiscal_code": p.get("fiscal_code") or "",
                "vat_number": p.get("vat_number") or "",
                "ipa_code": p.get("ipa_code") or "",
            }
            for p in registration.parties
        ],
        "document": registration.document_facts,
        "attachments": [
            {
                "index": index,
                "name": a["name"],
                "sha256": a["sha256"],
                "sha256_base64": hex_to_base64(a["sha256"]),
                "size": a["size"],
                "mime_type": a.get("mime_type") or "application/octet-stream",
            }
            for index, a in enumerate(registration.attachments)
        ],
        "operator": registration.operator_name,
        "classification": registration.classification,
        "assigned_to": registration.assigned_to,
        "public_document": registration.public_document,
        "annulled": annulment is not None,
        "annulment": None
        if annulment is None
        else {
            "reason": annulment.reason,
            "authorised_by": annulment.authorised_by,
            "authorising_act": annulment.authorising_act,
            "operator": annulment.operator_name,
            "annulled_at": annulment.annulled_at,
            "annulment_date": annulment.annulment_date,
        },
    }
    if not detail:
        return RegistrationSerializer(data).data
    data["changes"] = [
        {
            "field": change.field,
            "old_value": change.old_value,
            "new_value": change.new_value,
            "changed_at": change.changed_at,
            "changed_by": change.actor_name,
        }
        for change in registration.changes.all()
    ]
    data["segnatura"] = None
    if registration.segnatura:
        from registry.segnatura import verify_segnatura

        check = verify_segnatura(registration.segnatura, registration=registration)
        data["segnatura"] = {
            "valid": check.valid,
            "schema_valid": check.schema_valid,
            "signature_valid": check.signature_valid,
            "digests_match": check.digests_match,
            "signer": check.signer,
            "problems": [str(p) for p in check.problems],
        }
    return RegistrationDetailSerializer(data).data


def _registration_or_404(pk: int) -> Registration:
    registration = selectors.registration_for_page(pk)
    if registration is None:
        raise Http404(_("There is no such registration."))
    return registration


def _register_data(register: Register) -> dict:
    return RegisterSerializer(
        {
            "code": register.code,
            "name": register.name,
            "kind": register.kind,
            "administration_code": register.administration_code,
            "aoo_code": register.aoo_code,
            "active": register.active,
            "registrations": getattr(register, "registration_count", 0),
            "last_registered_at": getattr(register, "last_registered_at", None),
        }
    ).data


def _daily_data(daily: DailyRegister) -> dict:
    return DailyRegisterSerializer(
        {
            "day": daily.day,
            "produced_at": daily.produced_at,
            "produced_by": daily.produced_by_name,
            "registrations": daily.registrations,
            "annulments": daily.annulments,
            "changes": daily.changes,
            "pdf_sha256": daily.pdf_sha256,
            "json_sha256": daily.json_sha256,
            "due_by": daily.due_by,
        }
    ).data


def _paginated(view: APIView, request, queryset, render):
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response([render(item) for item in page])


# Registers -----------------------------------------------------------------------------------


class RegisterListView(APIView):
    @extend_schema(
        tags=[TAG],
        operation_id="registry_registers",
        summary="The registers",
        responses={200: RegisterSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request):
        _require_reader(request.user)
        return Response([_register_data(r) for r in selectors.register_list()])


class RegisterDetailView(APIView):
    @extend_schema(
        tags=[TAG],
        operation_id="registry_register",
        summary="One register",
        responses={200: RegisterSerializer, **READ_ERRORS},
    )
    def get(self, request, code: str):
        _require_reader(request.user)
        register = selectors.register_list().filter(code=code).first()
        if register is None:
            raise Http404(_("There is no register with this code."))
        return Response(_register_data(register))


class PendingView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=PAGE_PARAMETERS,
        operation_id="registry_pending",
        summary="Signed agreements waiting for a number",
        responses={200: paged(PendingAgreementSerializer), **LIST_ERRORS},
    )
    def get(self, request):
        _require_reader(request.user)

        def render(agreement: Agreement) -> dict:
            document = getattr(agreement, "signing_document", None)
            return PendingAgreementSerializer(
                {
                    "id": agreement.pk,
                    "subject": agreement.subject,
                    "kind": agreement.kind,
                    "parties": [p.organisation.name for p in agreement.parties.all()],
                    "signed_sha256": document.current_sha256 if document else "",
                    "updated_at": agreement.updated_at,
                }
            ).data

        return _paginated(self, request, selectors.agreements_to_register(), render)


# Registrations -------------------------------------------------------------------------------


class RegistrationListView(APIView):
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    @extend_schema(
        tags=[TAG],
        operation_id="registry_registrations",
        summary="Registrations, newest first",
        description="Annulled registrations stay in, marked, unless `annulled=false`.",
        parameters=[RegistrationQuerySerializer, *PAGE_PARAMETERS],
        responses={200: paged(RegistrationSerializer), **LIST_ERRORS},
    )
    def get(self, request):
        _require_reader(request.user)
        query = RegistrationQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        register = None
        if data.get("register"):
            register = selectors.register_by_code(data["register"])
            if register is None:
                raise serializers.ValidationError(
                    {"register": [_("There is no register with this code.")]}
                )
        annulled = data.get("annulled")
        criteria = RegistrationFilter(
            number=data.get("number"),
            year=data.get("year"),
            status="" if annulled is None else ("annulled" if annulled else "active"),
        )
        registrations = selectors.registration_search(register, criteria)
        if data.get("agreement"):
            registrations = registrations.filter(agreement_id=data["agreement"])
        return _paginated(self, request, registrations, _registration_data)

    @extend_schema(
        tags=[TAG],
        operation_id="registry_register_agreement",
        summary="Register a signed agreement",
        description="Gives the signed agreement the next number of the register, with the "
        "impronta of the signed PDF and of each attachment, the sealed segnatura XML, and moves "
        "it to «registered». A registrar only. JSON, or multipart/form-data with `attachments`.",
        request={
            "application/json": RegisterRequestSerializer,
            "multipart/form-data": RegisterRequestSerializer,
        },
        responses={201: RegistrationDetailSerializer, **ERRORS},
    )
    def post(self, request):
        body = RegisterRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        agreements = (
            Agreement.objects.all()
            if selectors.can_read_registry(request.user)
            else visible_agreements(request.user)
        )
        agreement = agreements.filter(pk=data["agreement"]).first()
        if agreement is None:
            raise serializers.ValidationError(
                {"agreement": [_("There is no such agreement, or you may not see it.")]}
            )
        register = selectors.register_by_code(data["register"])
        if register is None:
            raise serializers.ValidationError(
                {"register": [_("There is no register with this code.")]}
            )
        registration = services.registration_register(
            actor=request.user,
            agreement=agreement,
            register=register,
            attachments=data["attachments"],
            classification=data["classification"],
            assigned_to=data["assigned_to"],
            public_document=data["public_document"],
            # No expected_state: unlike the web form, an API client saw no page whose state
            # could have gone stale; the transition's own refusal names the current state.
        )
        registration = _registration_or_404(registration.pk)
        return Response(
            _registration_data(registration, detail=True), status=status.HTTP_201_CREATED
        )


class RegistrationDetailView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=[REGISTRATION_ID],
        operation_id="registry_registration",
        summary="One registration",
        description="Number, date, impronta (hex and base64) of the signed PDF and of each "
        "attachment, annulment, the history of changes and the check of its segnatura.",
        responses={200: RegistrationDetailSerializer, **READ_ERRORS},
    )
    def get(self, request, id: int):
        _require_reader(request.user)
        return Response(_registration_data(_registration_or_404(id), detail=True))

    @extend_schema(
        tags=[TAG],
        parameters=[REGISTRATION_ID],
        operation_id="registry_registration_change",
        summary="Change classification, internal assignment or publication",
        description="The only values of a registration that may change; each change is kept "
        "with its old and new value. A registrar only.",
        request=ChangeRequestSerializer,
        responses={200: RegistrationDetailSerializer, **ERRORS},
    )
    def patch(self, request, id: int):
        body = ChangeRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        registration = _registration_or_404(id)
        services.registration_change(
            actor=request.user, registration=registration, **body.validated_data
        )
        return Response(_registration_data(_registration_or_404(id), detail=True))


class RegistrationAnnulView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=[REGISTRATION_ID],
        operation_id="registry_registration_annul",
        summary="Annul a registration",
        description="The registration keeps every value and stays in the register, marked "
        "annulled; the agreement becomes «annulled». A registrar only; it cannot be undone.",
        request=AnnulRequestSerializer,
        responses={200: RegistrationDetailSerializer, **ERRORS},
    )
    def post(self, request, id: int):
        body = AnnulRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        registration = _registration_or_404(id)
        services.registration_annul(
            actor=request.user, registration=registration, **body.validated_data
        )
        return Response(_registration_data(_registration_or_404(id), detail=True))


class RegistrationDocumentView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=[TAG],
        parameters=[REGISTRATION_ID],
        operation_id="registry_registration_document",
        summary="The registered signed PDF",
        description="The exact bytes whose SHA-256 is the impronta (also in the ETag).",
        responses=file_responses(PDF, "The signed PDF.", DOWNLOAD_ERRORS),
    )
    def get(self, request, id: int):
        _require_reader(request.user)
        registration = _registration_or_404(id)
        data = registered_bytes(registration.document_file, registration.document_sha256)
        return download(
            data, f"{file_label(registration)}.pdf", PDF, sha256=registration.document_sha256
        )


class RegistrationAttachmentView(APIView):
    renderer_classes = [JSONRenderer, OctetRenderer]

    @extend_schema(
        tags=[TAG],
        parameters=[REGISTRATION_ID, INDEX],
        operation_id="registry_registration_attachment",
        summary="A registered attachment",
        description="The exact registered bytes (their SHA-256 in the ETag); the media type it "
        "was registered with is in the registration's `attachments`.",
        responses=file_responses("application/octet-stream", "The attachment.", DOWNLOAD_ERRORS),
    )
    def get(self, request, id: int, index: int):  # noqa: A002 - the path's name
        _require_reader(request.user)
        registration = _registration_or_404(id)
        if not 0 <= index < len(registration.attachments):
            raise Http404(_("There is no such attachment."))
        attachment = registration.attachments[index]
        data = registered_bytes(attachment["file"], attachment["sha256"])
        return download(
            data,
            attachment["name"].replace('"', "'"),
            "application/octet-stream",
            sha256=attachment["sha256"],
        )


class RegistrationSegnaturaView(APIView):
    renderer_classes = [JSONRenderer, XmlRenderer]

    @extend_schema(
        tags=[TAG],
        parameters=[REGISTRATION_ID],
        operation_id="registry_registration_segnatura",
        summary="The segnatura XML",
        description="AgID segnatura_protocollo v3.0, sealed by the system key; it goes with the "
        "signed PDF, never stamped into it.",
        responses=file_responses(XML, "The segnatura."),
    )
    def get(self, request, id: int):
        _require_reader(request.user)
        registration = _registration_or_404(id)
        if not registration.segnatura:
            raise Http404(_("This registration has no segnatura."))
        return download(
            registration.segnatura.encode("utf-8"),
            f"{file_label(registration)}-segnatura.xml",
            XML,
        )


class RegistrationReceiptView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=[TAG],
        parameters=[REGISTRATION_ID],
        operation_id="registry_registration_receipt",
        summary="The receipt (PDF with a QR code to the public page)",
        responses=file_responses(PDF, "The receipt."),
    )
    def get(self, request, id: int):
        from registry.receipt import render_receipt

        _require_reader(request.user)
        registration = _registration_or_404(id)
        return download(
            render_receipt(registration), f"{file_label(registration)}-ricevuta.pdf", PDF
        )


# Daily registers -----------------------------------------------------------------------------


class DailyListView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=PAGE_PARAMETERS,
        operation_id="registry_daily_registers",
        summary="The daily registers produced, newest first",
        responses={200: paged(DailyRegisterSerializer), **LIST_ERRORS},
    )
    def get(self, request):
        _require_reader(request.user)
        return _paginated(self, request, selectors.daily_register_list(), _daily_data)

    @extend_schema(
        tags=[TAG],
        operation_id="registry_daily_register_produce",
        summary="Produce (and close) the daily register of a day",
        description="A PDF and a JSON file with every registration of the day and every "
        "annulment and change made on it; their SHA-256 go into the audit trail. The day is "
        "closed: nothing more can be registered, annulled or changed with its date. A registrar "
        "only.",
        request=DailyProduceSerializer,
        responses={201: DailyRegisterSerializer, **ERRORS},
    )
    def post(self, request):
        body = DailyProduceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        produced = services.daily_register_produce(
            actor=request.user, day=body.validated_data["day"]
        )
        return Response(_daily_data(produced), status=status.HTTP_201_CREATED)


DAY = OpenApiParameter("day", OpenApiTypes.DATE, OpenApiParameter.PATH, description="YYYY-MM-DD")


def _daily_or_404(day: str) -> DailyRegister:
    try:
        parsed = datetime.date.fromisoformat(day)
    except ValueError:
        parsed = None
    produced = DailyRegister.objects.filter(day=parsed).first() if parsed else None
    if produced is None:
        raise Http404(_("There is no daily register of this day."))
    return produced


class DailyDetailView(APIView):
    @extend_schema(
        tags=[TAG],
        operation_id="registry_daily_register",
        summary="One daily register",
        parameters=[DAY],
        responses={200: DailyRegisterSerializer, **READ_ERRORS},
    )
    def get(self, request, day: str):
        _require_reader(request.user)
        return Response(_daily_data(_daily_or_404(day)))


class DailyFileView(APIView):
    fmt = "pdf"

    def _get(self, request, day: str):
        _require_reader(request.user)
        produced = _daily_or_404(day)
        if self.fmt == "pdf":
            name, sha256, content_type = produced.pdf_file, produced.pdf_sha256, PDF
        else:
            name, sha256 = produced.json_file, produced.json_sha256
            content_type = "application/json; charset=utf-8"
        data = registered_bytes(name, sha256)
        return download(
            data,
            f"registro-giornaliero-{produced.day.isoformat()}.{self.fmt}",
            content_type,
            sha256=sha256,
        )


class DailyPdfView(DailyFileView):
    renderer_classes = [JSONRenderer, PdfRenderer]
    fmt = "pdf"

    @extend_schema(
        tags=[TAG],
        operation_id="registry_daily_register_pdf",
        summary="The daily register as PDF",
        parameters=[DAY],
        responses=file_responses(PDF, "The stored PDF (its SHA-256 in the ETag).", DOWNLOAD_ERRORS),
    )
    def get(self, request, day: str):
        return self._get(request, day)


class DailyJsonView(DailyFileView):
    renderer_classes = [JSONRenderer]
    fmt = "json"

    @extend_schema(
        tags=[TAG],
        operation_id="registry_daily_register_json",
        summary="The daily register as JSON (the stored file, byte for byte)",
        parameters=[DAY],
        responses={
            (200, JSON_FILE): OpenApiTypes.OBJECT,
            **json_errors(DOWNLOAD_ERRORS),
        },
    )
    def get(self, request, day: str):
        return self._get(request, day)


urlpatterns = [
    path("registry/registers/", RegisterListView.as_view(), name="registry_registers"),
    path("registry/registers/<str:code>/", RegisterDetailView.as_view(), name="registry_register"),
    path("registry/pending/", PendingView.as_view(), name="registry_pending"),
    path(
        "registry/registrations/",
        RegistrationListView.as_view(),
        name="registry_registrations",
    ),
    path(
        "registry/registrations/<int:id>/",
        RegistrationDetailView.as_view(),
        name="registry_registration",
    ),
    path(
        "registry/registrations/<int:id>/annul/",
        RegistrationAnnulView.as_view(),
        name="registry_registration_annul",
    ),
    path(
        "registry/registrations/<int:id>/document.pdf",
        RegistrationDocumentView.as_view(),
        name="registry_registration_document",
    ),
    path(
        "registry/registrations/<int:id>/attachments/<int:index>/",
        RegistrationAttachmentView.as_view(),
        name="registry_registration_attachment",
    ),
    path(
        "registry/registrations/<int:id>/segnatura.xml",
        RegistrationSegnaturaView.as_view(),
        name="registry_registration_segnatura",
    ),
    path(
        "registry/registrations/<int:id>/receipt.pdf",
        RegistrationReceiptView.as_view(),
        name="registry_registration_receipt",
    ),
    path("registry/daily/", DailyListView.as_view(), name="registry_daily_registers"),
    path("registry/daily/<str:day>/", DailyDetailView.as_view(), name="registry_daily_register"),
    path(
        "registry/daily/<str:day>/register.pdf",
        DailyPdfView.as_view(),
        name="registry_daily_register_pdf",
    ),
    path(
        "registry/daily/<str:day>/register.json",
        DailyJsonView.as_view(),
        name="registry_daily_register_json",
    ),
]
