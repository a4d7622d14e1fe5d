"""The API of agreements: who I am, organisations, the template library, agreements with their
parties and signatories, lifecycle transitions, versions of the text (upload, drafting from a
template, files, comparison), negotiation rounds (comments, proposals, decisions) and the
agreement's timeline.

Like the web pages (agreements/views.py, agreements/views_drafting.py), these endpoints read
through the selectors and act only through the services, called the same way; the services check
permissions and record refused attempts in the audit trail. An agreement the user may not see
answers 404, as if it did not exist.
"""

import io

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef
from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from agreements import negotiation, services
from agreements.forms import DOCX_CONTENT_TYPE, variable_kind
from agreements.models import (
    Agreement,
    AgreementParty,
    AgreementState,
    AgreementVersion,
    NegotiationRound,
    Organisation,
    OrganisationMember,
)
from agreements.policies import can_use_template_library
from agreements.redline import compare, summary_text
from agreements.roles import Role, user_roles
from agreements.selectors import (
    agreement_events,
    agreement_for_detail,
    agreement_list_for,
    available_actions,
    invited_open_rounds,
    is_office_staff,
    latest_rendered_version,
    round_comment,
    round_comments,
    round_for_page,
    round_list_for,
    round_proposals,
    timeline,
    version_list_for,
    visible_proposal,
    visible_version,
    visible_versions,
)
from agreements.storage import read_checked
from api import serializers as s
from api.common import (
    AGREEMENT_ID,
    ERRORS,
    LIST_ERRORS,
    MAX_ID,
    PDF_CONTENT_TYPE,
    READ_ERRORS,
    DocxRenderer,
    PdfRenderer,
    docx_bytes,
    file_responses,
    path_id,
    visible_agreement,
)
from audit.models import AuditEvent
from stipula.errors import NotFound
from stipula.http import stored_file_response
from templates_docx.context import COMPUTED_VARIABLES, user_variables
from templates_docx.conversion import docx_to_pdf
from templates_docx.selectors import (
    template_list,
    template_version_by_id,
    template_version_docx,
    template_versions,
)
from templates_docx.services import template_upload

VERSION_NUMBER = path_id("number", gettext_lazy("The version's number, from 1."))
ROUND_NUMBER = path_id("number", gettext_lazy("The round's number, from 1."))
PROPOSAL_ID = path_id("proposal_id", gettext_lazy("The proposal's id."))
TEMPLATE_ID = path_id("template_id", gettext_lazy("The template's id."))
TEMPLATE_VERSION_NUMBER = path_id("number", gettext_lazy("The template version's number, from 1."))
TRANSITION_NAME = OpenApiParameter(
    "name",
    str,
    OpenApiParameter.PATH,
    enum=list(services.TRANSITION_SERVICES),
    description=gettext_lazy("The transition, as listed in the agreement's «actions»."),
)
DOCX_FILE = gettext_lazy("The DOCX file.")
PDF_FILE = gettext_lazy("The PDF file.")
WRITE_ERRORS = {k: ERRORS[k] for k in (400, 401, 403, 404, 409, 415)}
UPLOAD_ERRORS = {k: ERRORS[k] for k in (400, 401, 403, 404, 409, 415, 422, 503)}

T_ME = "me"
T_ORGANISATIONS = "organisations"
T_TEMPLATES = "templates"
T_AGREEMENTS = "agreements"
T_VERSIONS = "versions"
T_NEGOTIATION = "negotiation"


def _fake(view) -> bool:
    """Whether drf-spectacular is building the schema (no real request, no URL arguments)."""
    return getattr(view, "swagger_fake_view", False)


class IdFilter(django_filters.NumberFilter):
    field_class = django_filters.fields.forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


# Me ----------------------------------------------------------------------------------------


class MeView(APIView):
    @extend_schema(
        tags=[T_ME],
        summary=gettext_lazy("Who I am: my roles and the organisations I act for"),
        responses={200: s.MeSerializer, **READ_ERRORS},
    )
    def get(self, request):
        user = request.user
        roles = user_roles(user)
        memberships = (
            OrganisationMember.objects.filter(user_id=user.pk)
            .select_related("organisation")
            .order_by("organisation__name")
        )
        data = {
            "id": user.pk,
            "username": user.get_username(),
            "full_name": user.get_full_name() or user.get_username(),
            "email": user.email,
            "language": translation.get_language(),
            "roles": [{"code": r.value, "label": str(r.label)} for r in Role if r.value in roles],
            "organisations": [
                {"organisation": m.organisation, "title": m.title} for m in memberships
            ],
            "can_create_agreements": Role.LEGAL_OFFICER.value in roles,
        }
        return Response(s.MeSerializer(data).data)


class MyInvitationsView(generics.GenericAPIView):
    serializer_class = s.InvitationRoundSerializer
    filter_backends = []

    def get_queryset(self):
        return invited_open_rounds(self.request.user)

    @extend_schema(
        tags=[T_ME],
        summary=gettext_lazy("The open negotiation rounds I am invited to, newest first"),
        responses={200: s.InvitationRoundSerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.InvitationRoundSerializer(page, many=True).data)


# Organisations -----------------------------------------------------------------------------


class OrganisationFilter(django_filters.FilterSet):
    kind = django_filters.ChoiceFilter(choices=Organisation.Kind.choices)
    name = django_filters.CharFilter(
        lookup_expr="icontains", max_length=255, label=gettext_lazy("Part of the name")
    )

    class Meta:
        model = Organisation
        fields = ["kind", "name"]


class OrganisationListView(generics.ListCreateAPIView):
    """Office staff see every organisation; anyone else the organisations they act for."""

    serializer_class = s.OrganisationSerializer
    filterset_class = OrganisationFilter
    ordering_fields = ["name", "id"]
    ordering = ["name"]

    def get_queryset(self):
        organisations = Organisation.objects.all()
        if _fake(self) or is_office_staff(self.request.user):
            return organisations
        return organisations.filter(memberships__user_id=self.request.user.pk)

    @extend_schema(
        tags=[T_ORGANISATIONS],
        summary=gettext_lazy("Organisations (filter by kind and name)"),
        responses={200: s.OrganisationSerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=[T_ORGANISATIONS],
        summary=gettext_lazy("Create an organisation (administrators)"),
        request=s.OrganisationCreateSerializer,
        responses={201: s.OrganisationSerializer, **WRITE_ERRORS},
    )
    def post(self, request, *args, **kwargs):
        body = s.OrganisationCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        organisation = services.organisation_create(actor=request.user, **body.validated_data)
        return Response(s.OrganisationSerializer(organisation).data, status=status.HTTP_201_CREATED)


# Templates ---------------------------------------------------------------------------------


def _require_library(user) -> None:
    if not can_use_template_library(user):
        raise exceptions.PermissionDenied(
            _("Only legal officers and administrators use the template library.")
        )


class TemplateListView(generics.GenericAPIView):
    serializer_class = s.TemplateSerializer
    filter_backends = []
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=[T_TEMPLATES],
        summary=gettext_lazy("The DOCX template library (legal officers, administrators)"),
        parameters=[
            OpenApiParameter(
                "kind",
                str,
                enum=Agreement.Kind.values,
                description=gettext_lazy("Only templates for this kind of agreement."),
            )
        ],
        responses={200: s.TemplateSerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        _require_library(request.user)
        kind = request.query_params.get("kind") or None
        if kind is not None and kind not in Agreement.Kind.values:
            raise exceptions.ValidationError({"kind": [_("Not a kind of agreement.")]})
        page = self.paginate_queryset(template_list(kind=kind))
        return self.get_paginated_response(s.TemplateSerializer(page, many=True).data)

    @extend_schema(
        tags=[T_TEMPLATES],
        summary=gettext_lazy(
            "Upload a DOCX template: a new template, or the next version of the one with this "
            "name (legal officers, administrators)"
        ),
        request={"multipart/form-data": s.TemplateUploadSerializer},
        responses={201: s.TemplateDetailSerializer, **UPLOAD_ERRORS},
    )
    def post(self, request):
        # No check before the service: it decides who may upload, and records a refusal.
        body = s.TemplateUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        version = template_upload(
            actor=request.user,
            name=data["name"],
            kind=data["kind"],
            docx=docx_bytes(data["docx"]),
            description=data["description"],
            note=data["note"],
        )
        return Response(
            s.TemplateDetailSerializer(_template_detail(version.template_id)).data,
            status=status.HTTP_201_CREATED,
        )


def _template(template_id: int):
    template = next((t for t in template_list() if t.pk == template_id), None)
    if template is None:
        raise Http404(_("There is no such template."))
    return template


def _template_detail(template_id: int):
    template = _template(template_id)
    template.versions_list = list(template_versions(template))
    return template


class TemplateDetailView(APIView):
    @extend_schema(
        tags=[T_TEMPLATES],
        summary=gettext_lazy("A template with all its versions"),
        parameters=[TEMPLATE_ID],
        responses={200: s.TemplateDetailSerializer, **READ_ERRORS},
    )
    def get(self, request, template_id: int):
        _require_library(request.user)
        return Response(s.TemplateDetailSerializer(_template_detail(template_id)).data)


class TemplateVersionCreateView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=[T_TEMPLATES],
        summary=gettext_lazy(
            "Upload the next version of a template (legal officers, administrators)"
        ),
        parameters=[TEMPLATE_ID],
        request={"multipart/form-data": s.DocxUploadSerializer},
        responses={201: s.TemplateVersionSerializer, **UPLOAD_ERRORS},
    )
    def post(self, request, template_id: int):
        # As the library's «Upload a new version»: the upload form with the template's name and
        # kind. The service decides who may upload, and records a refusal.
        template = _template(template_id)
        body = s.DocxUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = template_upload(
            actor=request.user,
            name=template.name,
            kind=template.kind,
            docx=docx_bytes(body.validated_data["docx"]),
            note=body.validated_data["note"],
        )
        return Response(s.TemplateVersionSerializer(version).data, status=status.HTTP_201_CREATED)


class TemplateVersionDocxView(APIView):
    renderer_classes = [JSONRenderer, DocxRenderer]

    @extend_schema(
        tags=[T_TEMPLATES],
        summary=gettext_lazy("The DOCX of a template version (legal officers, administrators)"),
        parameters=[TEMPLATE_ID, TEMPLATE_VERSION_NUMBER],
        responses=file_responses(DOCX_CONTENT_TYPE, DOCX_FILE, {**READ_ERRORS, 422: ERRORS[422]}),
    )
    def get(self, request, template_id: int, number: int):
        _require_library(request.user)
        version = template_versions(_template(template_id)).filter(number=number).first()
        if version is None:
            raise Http404(_("This template version does not exist."))
        try:
            # The stored bytes, checked against the SHA-256 recorded at upload (422 if altered).
            data = template_version_docx(version)
        except FileNotFoundError:
            raise Http404(_("The file of this template is missing from the storage.")) from None
        return FileResponse(
            io.BytesIO(data),
            as_attachment=True,
            filename=f"{version.template.name} v{version.number}.docx",
            content_type=DOCX_CONTENT_TYPE,
        )


# Agreements --------------------------------------------------------------------------------


class AgreementFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=AgreementState.choices)
    kind = django_filters.ChoiceFilter(choices=Agreement.Kind.choices)
    party = IdFilter(
        method="filter_party",
        label=gettext_lazy("Only agreements where this organisation (id) is a party"),
    )
    q = django_filters.CharFilter(
        field_name="subject",
        lookup_expr="icontains",
        max_length=500,
        label=gettext_lazy("Words of the subject"),
    )

    class Meta:
        model = Agreement
        fields = ["state", "kind", "party", "q"]

    def filter_party(self, queryset, name, value):
        parties = AgreementParty.objects.filter(agreement=OuterRef("pk"), organisation_id=value)
        return queryset.filter(Exists(parties))


def _detail(request, pk) -> dict:
    try:
        agreement = agreement_for_detail(request.user, pk)
    except Agreement.DoesNotExist:
        raise Http404(_("There is no such agreement, or you may not see it.")) from None
    context = {"actions": available_actions(agreement, request.user)}
    return s.AgreementDetailSerializer(agreement, context=context).data


class AgreementListView(generics.ListCreateAPIView):
    serializer_class = s.AgreementSummarySerializer
    filterset_class = AgreementFilter
    ordering_fields = ["created_at", "updated_at", "subject", "state", "id"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self):
        if _fake(self):
            return Agreement.objects.none()
        return agreement_list_for(self.request.user)

    @extend_schema(
        tags=[T_AGREEMENTS],
        summary=gettext_lazy("The agreements you may see"),
        responses={200: s.AgreementSummarySerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    @extend_schema(
        tags=[T_AGREEMENTS],
        summary=gettext_lazy("Create an agreement in draft (legal officers)"),
        request=s.AgreementCreateSerializer,
        responses={201: s.AgreementDetailSerializer, **WRITE_ERRORS},
    )
    def post(self, request, *args, **kwargs):
        body = s.AgreementCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        agreement = services.agreement_create(actor=request.user, **body.validated_data)
        return Response(_detail(request, agreement.pk), status=status.HTTP_201_CREATED)


class AgreementDetailView(APIView):
    @extend_schema(
        tags=[T_AGREEMENTS],
        summary=gettext_lazy("An agreement: parties, signatories, versions, what you may do"),
        parameters=[AGREEMENT_ID],
        responses={200: s.AgreementDetailSerializer, **READ_ERRORS},
    )
    def get(self, request, id: int):  # noqa: A002 - the URL's name
        return Response(_detail(request, id))


class TransitionView(APIView):
    @extend_schema(
        tags=[T_AGREEMENTS],
        summary=gettext_lazy("Take a lifecycle action (open negotiation, submit, approve…)"),
        parameters=[AGREEMENT_ID, TRANSITION_NAME],
        request=s.TransitionSerializer,
        responses={200: s.AgreementDetailSerializer, **WRITE_ERRORS},
    )
    def post(self, request, id: int, name: str):  # noqa: A002
        agreement = visible_agreement(request.user, id)
        service = services.TRANSITION_SERVICES.get(name)
        if service is None:
            raise Http404(_("There is no such action."))
        body = s.TransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        service(
            actor=request.user,
            agreement=agreement,
            expected_state=body.validated_data["expected_state"],
            reason=body.validated_data["reason"],
        )
        return Response(_detail(request, id))


class PartyCreateView(APIView):
    @extend_schema(
        tags=[T_AGREEMENTS],
        summary=gettext_lazy("Add a party (the responsible legal officer)"),
        parameters=[AGREEMENT_ID],
        request=s.PartyCreateSerializer,
        responses={201: s.PartySerializer, **WRITE_ERRORS},
    )
    def post(self, request, id: int):  # noqa: A002
        agreement = visible_agreement(request.user, id)
        body = s.PartyCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        party = services.agreement_add_party(
            actor=request.user, agreement=agreement, **body.validated_data
        )
        return Response(s.PartySerializer(party).data, status=status.HTTP_201_CREATED)


class SignatoryCreateView(APIView):
    @extend_schema(
        tags=[T_AGREEMENTS],
        summary=gettext_lazy("Add a signatory to a party (the responsible legal officer)"),
        parameters=[AGREEMENT_ID],
        request=s.SignatoryCreateSerializer,
        responses={201: s.SignatorySerializer, **WRITE_ERRORS},
    )
    def post(self, request, id: int):  # noqa: A002
        agreement = visible_agreement(request.user, id)
        body = s.SignatoryCreateSerializer(data=request.data, agreement=agreement)
        body.is_valid(raise_exception=True)
        signatory = services.agreement_add_signatory(
            actor=request.user, agreement=agreement, **body.validated_data
        )
        return Response(s.SignatorySerializer(signatory).data, status=status.HTTP_201_CREATED)


class TimelineView(generics.GenericAPIView):
    serializer_class = s.TimelineEventSerializer
    filter_backends = []

    def get_queryset(self):
        return AuditEvent.objects.none()

    @extend_schema(
        tags=[T_AGREEMENTS],
        summary=gettext_lazy("The agreement's audit events, oldest first (its timeline)"),
        parameters=[AGREEMENT_ID],
        responses={200: s.TimelineEventSerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request, id: int):  # noqa: A002
        agreement = visible_agreement(request.user, id)
        page = self.paginate_queryset(agreement_events(agreement))
        entries = timeline(page)
        return self.get_paginated_response(s.TimelineEventSerializer(entries, many=True).data)


# Versions ----------------------------------------------------------------------------------


def _storable(*ids: int) -> bool:
    """Whether the ids fit the database's integers: a larger one is simply not found (the
    database would fail on it, through a join)."""
    return all(0 < i <= MAX_ID for i in ids)


def _version(user, pk, number) -> AgreementVersion:
    version = None
    if _storable(pk, number):
        version = visible_version(user, agreement_pk=pk, number=number)
    if version is None:
        raise Http404(_("There is no such version, or you may not see it."))
    return version


class VersionListView(generics.GenericAPIView):
    serializer_class = s.VersionSerializer
    filter_backends = []
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self):
        return AgreementVersion.objects.none()

    @extend_schema(
        tags=[T_VERSIONS],
        summary=gettext_lazy("The versions of the text you may read, newest first"),
        parameters=[AGREEMENT_ID],
        responses={200: s.VersionSerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request, id: int):  # noqa: A002
        agreement = visible_agreement(request.user, id)
        page = self.paginate_queryset(
            version_list_for(request.user, agreement).select_related("agreement")
        )
        return self.get_paginated_response(s.VersionSerializer(page, many=True).data)

    @extend_schema(
        tags=[T_VERSIONS],
        summary=gettext_lazy("Upload a DOCX as the new current version"),
        parameters=[AGREEMENT_ID],
        request={"multipart/form-data": s.DocxUploadSerializer},
        responses={201: s.VersionSerializer, **UPLOAD_ERRORS},
    )
    def post(self, request, id: int):  # noqa: A002
        agreement = visible_agreement(request.user, id)
        body = s.DocxUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = services.version_create(
            actor=request.user,
            agreement=agreement,
            docx=docx_bytes(body.validated_data["docx"]),
            note=body.validated_data["note"],
        )
        version = _version(request.user, id, version.number)
        return Response(s.VersionSerializer(version).data, status=status.HTTP_201_CREATED)


def _empty_value(kind: str):
    # What the web form sends for a field left empty (agreements.forms.TemplateDataForm).
    if kind == "boolean":
        return False
    if kind in ("list", "records"):
        return []
    return ""


class DraftFromTemplateView(APIView):
    @extend_schema(
        tags=[T_VERSIONS],
        summary=gettext_lazy("Draft a new version from a template of the library"),
        parameters=[AGREEMENT_ID],
        request=s.DraftFromTemplateSerializer,
        responses={201: s.VersionSerializer, **UPLOAD_ERRORS},
    )
    def post(self, request, id: int):  # noqa: A002
        agreement = visible_agreement(request.user, id)
        body = s.DraftFromTemplateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            template_version = template_version_by_id(body.validated_data["template_version"])
        except NotFound as error:
            raise exceptions.ValidationError({"template_version": [str(error)]}) from None
        variables = user_variables(template_version.variables)
        given = body.validated_data["data"]
        unknown = sorted(k for k in given if k not in variables and k not in COMPUTED_VARIABLES)
        if unknown:
            raise exceptions.ValidationError(
                {
                    "data": [
                        _("Not asked for by this template: %(names)s. It asks for: %(asked)s.")
                        % {"names": ", ".join(unknown), "asked": ", ".join(variables)}
                    ]
                }
            )
        previous = latest_rendered_version(agreement, template_version.template_id)
        before = previous.data if previous else {}
        data = {
            name: given[name]
            if name in given
            else _empty_value(variable_kind(name, before.get(name)))
            for name in variables
        }
        data.update({k: v for k, v in given.items() if k in COMPUTED_VARIABLES})
        version = services.version_render(
            actor=request.user,
            agreement=agreement,
            template_version=template_version,
            data=data,
            note=body.validated_data["note"],
        )
        version = _version(request.user, id, version.number)
        return Response(s.VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailView(APIView):
    @extend_schema(
        tags=[T_VERSIONS],
        summary=gettext_lazy("A version: its source, author, SHA-256 of its DOCX and PDF"),
        parameters=[AGREEMENT_ID, VERSION_NUMBER],
        responses={200: s.VersionSerializer, **READ_ERRORS},
    )
    def get(self, request, id: int, number: int):  # noqa: A002
        return Response(s.VersionSerializer(_version(request.user, id, number)).data)


class VersionDocxView(APIView):
    renderer_classes = [JSONRenderer, DocxRenderer]

    @extend_schema(
        tags=[T_VERSIONS],
        summary=gettext_lazy("The DOCX of a version"),
        parameters=[AGREEMENT_ID, VERSION_NUMBER],
        responses=file_responses(DOCX_CONTENT_TYPE, DOCX_FILE),
    )
    def get(self, request, id: int, number: int):  # noqa: A002
        version = _version(request.user, id, number)
        return stored_file_response(
            version.docx,
            filename=f"agreement-{id}-v{version.number}.docx",
            content_type=DOCX_CONTENT_TYPE,
        )


class VersionPdfView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=[T_VERSIONS],
        summary=gettext_lazy("The PDF of a version"),
        parameters=[AGREEMENT_ID, VERSION_NUMBER],
        responses=file_responses(PDF_CONTENT_TYPE, PDF_FILE),
    )
    def get(self, request, id: int, number: int):  # noqa: A002
        version = _version(request.user, id, number)
        return stored_file_response(
            version.pdf,
            filename=f"agreement-{id}-v{version.number}.pdf",
            content_type=PDF_CONTENT_TYPE,
            as_attachment=False,
        )


def _redline(request, pk):
    agreement = visible_agreement(request.user, pk)
    query = s.CompareQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    versions = {v.number: v for v in version_list_for(request.user, agreement)}
    old, new = versions.get(query.validated_data["old"]), versions.get(query.validated_data["new"])
    if old is None or new is None:
        raise Http404(_("There is no such version, or you may not see it."))
    redline = compare(
        read_checked(old.docx, old.docx_sha256), read_checked(new.docx, new.docx_sha256)
    )
    title = _("Agreement no. %(number)d: changes from %(old)s to %(new)s") % {
        "number": agreement.pk,
        "old": _("version %(number)d") % {"number": old.number},
        "new": _("version %(number)d") % {"number": new.number},
    }
    return old, new, redline, title


COMPARE_PARAMETERS = [AGREEMENT_ID, s.CompareQuerySerializer]


class CompareView(APIView):
    @extend_schema(
        tags=[T_VERSIONS],
        summary=gettext_lazy("Compare two versions, word by word (redline)"),
        parameters=COMPARE_PARAMETERS,
        responses={200: s.RedlineSerializer, **LIST_ERRORS, 422: ERRORS[422]},
    )
    def get(self, request, id: int):  # noqa: A002
        old, new, redline, _title = _redline(request, id)
        query = f"?old={old.number}&new={new.number}"
        return Response(
            s.RedlineSerializer(
                {
                    "old": old.number,
                    "new": new.number,
                    **_redline_body(redline),
                    "docx_url": reverse("api:compare-docx", args=[id]) + query,
                    "pdf_url": reverse("api:compare-pdf", args=[id]) + query,
                }
            ).data
        )


def _redline_body(redline) -> dict:
    """What a comparison answers, whatever it compares (as the redline page shows it)."""
    summary = redline.summary
    return {
        "has_changes": redline.has_changes,
        "summary_text": summary_text(redline),
        "summary": {
            "paragraphs_inserted": summary.paragraphs_inserted,
            "paragraphs_deleted": summary.paragraphs_deleted,
            "paragraphs_changed": summary.paragraphs_changed,
            "words_inserted": summary.words_inserted,
            "words_deleted": summary.words_deleted,
        },
        "html": redline.to_html(inserted_label=_("Inserted"), deleted_label=_("Deleted")),
    }


def _redline_file(request, pk, fmt: str):
    old, new, redline, title = _redline(request, pk)
    name = f"agreement-{pk}-v{old.number}-v{new.number}-redline"
    return _redline_download(redline, title=title, name=name, fmt=fmt)


def _redline_download(redline, *, title: str, name: str, fmt: str):
    """The comparison as a DOCX with tracked changes, or that DOCX as a PDF."""
    docx = redline.to_docx(title=title, summary=summary_text(redline))
    if fmt == "docx":
        return FileResponse(
            io.BytesIO(docx),
            as_attachment=True,
            filename=f"{name}.docx",
            content_type=DOCX_CONTENT_TYPE,
        )
    return FileResponse(
        io.BytesIO(docx_to_pdf(docx)),
        as_attachment=True,
        filename=f"{name}.pdf",
        content_type=PDF_CONTENT_TYPE,
    )


class CompareDocxView(APIView):
    renderer_classes = [JSONRenderer, DocxRenderer]

    @extend_schema(
        tags=[T_VERSIONS],
        summary=gettext_lazy("The comparison as a DOCX with tracked changes"),
        parameters=COMPARE_PARAMETERS,
        responses=file_responses(DOCX_CONTENT_TYPE, DOCX_FILE, {**LIST_ERRORS, 422: ERRORS[422]}),
    )
    def get(self, request, id: int):  # noqa: A002
        return _redline_file(request, id, "docx")


class ComparePdfView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=[T_VERSIONS],
        summary=gettext_lazy("The comparison as a PDF"),
        parameters=COMPARE_PARAMETERS,
        responses=file_responses(
            PDF_CONTENT_TYPE, PDF_FILE, {**LIST_ERRORS, 422: ERRORS[422], 503: ERRORS[503]}
        ),
    )
    def get(self, request, id: int):  # noqa: A002
        return _redline_file(request, id, "pdf")


# Negotiation -------------------------------------------------------------------------------


def _round(user, pk, number) -> NegotiationRound:
    round_ = None
    if _storable(pk, number):
        round_ = round_for_page(user, agreement_pk=pk, number=number)
    if round_ is None:
        raise Http404(_("There is no such negotiation round, or you are not invited to it."))
    return round_


def _round_detail(round_: NegotiationRound) -> dict:
    comments = []
    for comment, depth in round_comments(round_):
        comment.depth = depth
        comments.append(comment)
    round_.comments_list = comments
    data = s.RoundSummarySerializer(round_).data
    data.update(
        {
            "opened_by": s.UserRefSerializer(round_.opened_by).data,
            "invitations": s.InvitationSerializer(round_.invitations.all(), many=True).data,
            "comments": s.CommentSerializer(comments, many=True).data,
            "proposals": s.ProposalSerializer(round_proposals(round_), many=True).data,
        }
    )
    return data


class RoundListView(generics.GenericAPIView):
    serializer_class = s.RoundListSerializer
    filter_backends = []

    def get_queryset(self):
        return NegotiationRound.objects.none()

    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("The negotiation rounds you may follow, newest first"),
        parameters=[AGREEMENT_ID],
        responses={200: s.RoundListSerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request, id: int):  # noqa: A002
        agreement = visible_agreement(request.user, id)
        page = self.paginate_queryset(round_list_for(request.user, agreement))
        return self.get_paginated_response(s.RoundListSerializer(page, many=True).data)

    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("Open a negotiation round and invite the parties' representatives"),
        parameters=[AGREEMENT_ID],
        request=s.RoundOpenSerializer,
        responses={201: s.RoundDetailSerializer, **WRITE_ERRORS},
    )
    def post(self, request, id: int):  # noqa: A002
        user = request.user
        agreement = visible_agreement(user, id)
        body = s.RoundOpenSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = None
        number = body.validated_data.get("version")
        if number is not None:
            version = visible_versions(user, agreement).filter(number=number).first()
            if version is None:
                raise exceptions.ValidationError(
                    {"version": [_("There is no such version, or you may not see it.")]}
                )
        invitees = None
        wanted = body.validated_data.get("invitees")
        if wanted is not None:
            invitees = list(get_user_model().objects.filter(pk__in=set(wanted)))
            if len(invitees) != len(set(wanted)):
                raise exceptions.ValidationError(
                    {
                        "invitees": [
                            _("Only people who act for a party of this agreement can be invited.")
                        ]
                    }
                )
        round_ = negotiation.round_open(
            actor=user,
            agreement=agreement,
            version=version,
            invitees=invitees,
            note=body.validated_data["note"],
        )
        return Response(
            _round_detail(_round(user, id, round_.number)), status=status.HTTP_201_CREATED
        )


class RoundDetailView(APIView):
    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("A round: invitations, the comment thread, proposals"),
        parameters=[AGREEMENT_ID, ROUND_NUMBER],
        responses={200: s.RoundDetailSerializer, **READ_ERRORS},
    )
    def get(self, request, id: int, number: int):  # noqa: A002
        return Response(_round_detail(_round(request.user, id, number)))


class RoundCloseView(APIView):
    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("Close a round (the responsible legal officer)"),
        parameters=[AGREEMENT_ID, ROUND_NUMBER],
        request=None,
        responses={200: s.RoundDetailSerializer, **WRITE_ERRORS},
    )
    def post(self, request, id: int, number: int):  # noqa: A002
        round_ = _round(request.user, id, number)
        negotiation.round_close(actor=request.user, negotiation_round=round_)
        return Response(_round_detail(_round(request.user, id, number)))


class CommentCreateView(APIView):
    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("Comment in a round, or reply to a comment"),
        parameters=[AGREEMENT_ID, ROUND_NUMBER],
        request=s.CommentCreateSerializer,
        responses={201: s.CommentSerializer, **WRITE_ERRORS},
    )
    def post(self, request, id: int, number: int):  # noqa: A002
        round_ = _round(request.user, id, number)
        body = s.CommentCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        parent_id = body.validated_data["parent"]
        parent = round_comment(round_, parent_id) if parent_id else None
        if parent_id and parent is None:
            raise exceptions.ValidationError(
                {"parent": [_("The comment you reply to is not in this round.")]}
            )
        comment = negotiation.comment_add(
            actor=request.user,
            negotiation_round=round_,
            text=body.validated_data["text"],
            anchor=body.validated_data["anchor"],
            parent=parent,
        )
        return Response(s.CommentSerializer(comment).data, status=status.HTTP_201_CREATED)


def _proposal(user, pk, proposal_pk):
    proposal = None
    if _storable(pk, proposal_pk):
        proposal = visible_proposal(user, agreement_pk=pk, proposal_pk=proposal_pk)
    if proposal is None:
        raise Http404(_("There is no such proposal, or you may not see it."))
    return proposal


class ProposalSubmitView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("Propose a revised text (DOCX) in a round you are invited to"),
        parameters=[AGREEMENT_ID, ROUND_NUMBER],
        request={"multipart/form-data": s.DocxUploadSerializer},
        responses={201: s.ProposalSerializer, **UPLOAD_ERRORS},
    )
    def post(self, request, id: int, number: int):  # noqa: A002
        round_ = _round(request.user, id, number)
        body = s.DocxUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        proposal = negotiation.proposal_submit(
            actor=request.user,
            negotiation_round=round_,
            docx=docx_bytes(body.validated_data["docx"]),
            note=body.validated_data["note"],
        )
        return Response(
            s.ProposalSerializer(_proposal(request.user, id, proposal.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class ProposalDetailView(APIView):
    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("A proposal and its decision"),
        parameters=[AGREEMENT_ID, PROPOSAL_ID],
        responses={200: s.ProposalSerializer, **READ_ERRORS},
    )
    def get(self, request, id: int, proposal_id: int):  # noqa: A002
        return Response(s.ProposalSerializer(_proposal(request.user, id, proposal_id)).data)


class ProposalDocxView(APIView):
    renderer_classes = [JSONRenderer, DocxRenderer]

    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("The DOCX of a proposal"),
        parameters=[AGREEMENT_ID, PROPOSAL_ID],
        responses=file_responses(DOCX_CONTENT_TYPE, DOCX_FILE),
    )
    def get(self, request, id: int, proposal_id: int):  # noqa: A002
        proposal = _proposal(request.user, id, proposal_id)
        return stored_file_response(
            proposal.docx,
            filename=f"agreement-{id}-round-{proposal.round.number}-proposal-{proposal.pk}.docx",
            content_type=DOCX_CONTENT_TYPE,
        )


class ProposalPdfView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("The PDF of a proposal"),
        parameters=[AGREEMENT_ID, PROPOSAL_ID],
        responses=file_responses(PDF_CONTENT_TYPE, PDF_FILE),
    )
    def get(self, request, id: int, proposal_id: int):  # noqa: A002
        proposal = _proposal(request.user, id, proposal_id)
        return stored_file_response(
            proposal.pdf,
            filename=f"agreement-{id}-round-{proposal.round.number}-proposal-{proposal.pk}.pdf",
            content_type=PDF_CONTENT_TYPE,
            as_attachment=False,
        )


def _proposal_redline(request, pk, proposal_pk):
    """A proposal compared with the version its round negotiates on (as the proposal's redline
    page: agreements.views_drafting.proposal_redline)."""
    proposal = _proposal(request.user, pk, proposal_pk)
    base = proposal.round.version
    redline = compare(
        read_checked(base.docx, base.docx_sha256),
        read_checked(proposal.docx, proposal.docx_sha256),
    )
    title = _("Agreement no. %(number)d: changes from %(old)s to %(new)s") % {
        "number": proposal.round.agreement_id,
        "old": _("version %(number)d") % {"number": base.number},
        "new": _("the proposal of %(party)s") % {"party": proposal.party.organisation.name},
    }
    return proposal, base, redline, title


def _proposal_redline_file(request, pk, proposal_pk, fmt: str):
    proposal, _base, redline, title = _proposal_redline(request, pk, proposal_pk)
    name = f"agreement-{pk}-proposal-{proposal.pk}-redline"
    return _redline_download(redline, title=title, name=name, fmt=fmt)


class ProposalRedlineView(APIView):
    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("A proposal compared with its round's version, word by word"),
        parameters=[AGREEMENT_ID, PROPOSAL_ID],
        responses={200: s.ProposalRedlineSerializer, **READ_ERRORS, 422: ERRORS[422]},
    )
    def get(self, request, id: int, proposal_id: int):  # noqa: A002
        proposal, base, redline, _title = _proposal_redline(request, id, proposal_id)
        return Response(
            s.ProposalRedlineSerializer(
                {
                    "version": base.number,
                    "proposal": proposal.pk,
                    **_redline_body(redline),
                    "docx_url": reverse("api:proposal-redline-docx", args=[id, proposal.pk]),
                    "pdf_url": reverse("api:proposal-redline-pdf", args=[id, proposal.pk]),
                }
            ).data
        )


class ProposalRedlineDocxView(APIView):
    renderer_classes = [JSONRenderer, DocxRenderer]

    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("A proposal's comparison as a DOCX with tracked changes"),
        parameters=[AGREEMENT_ID, PROPOSAL_ID],
        responses=file_responses(DOCX_CONTENT_TYPE, DOCX_FILE, {**READ_ERRORS, 422: ERRORS[422]}),
    )
    def get(self, request, id: int, proposal_id: int):  # noqa: A002
        return _proposal_redline_file(request, id, proposal_id, "docx")


class ProposalRedlinePdfView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("A proposal's comparison as a PDF"),
        parameters=[AGREEMENT_ID, PROPOSAL_ID],
        responses=file_responses(
            PDF_CONTENT_TYPE, PDF_FILE, {**READ_ERRORS, 422: ERRORS[422], 503: ERRORS[503]}
        ),
    )
    def get(self, request, id: int, proposal_id: int):  # noqa: A002
        return _proposal_redline_file(request, id, proposal_id, "pdf")


class ProposalAcceptView(APIView):
    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("Accept a proposal: its text becomes the new current version"),
        parameters=[AGREEMENT_ID, PROPOSAL_ID],
        request=s.DecisionSerializer,
        responses={200: s.VersionSerializer, **WRITE_ERRORS},
    )
    def post(self, request, id: int, proposal_id: int):  # noqa: A002
        proposal = _proposal(request.user, id, proposal_id)
        body = s.DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = negotiation.proposal_accept(
            actor=request.user, proposal=proposal, note=body.validated_data["note"]
        )
        return Response(s.VersionSerializer(_version(request.user, id, version.number)).data)


class ProposalRejectView(APIView):
    @extend_schema(
        tags=[T_NEGOTIATION],
        summary=gettext_lazy("Reject a proposal, saying why"),
        parameters=[AGREEMENT_ID, PROPOSAL_ID],
        request=s.DecisionSerializer,
        responses={200: s.ProposalSerializer, **WRITE_ERRORS},
    )
    def post(self, request, id: int, proposal_id: int):  # noqa: A002
        proposal = _proposal(request.user, id, proposal_id)
        body = s.DecisionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        negotiation.proposal_reject(
            actor=request.user, proposal=proposal, note=body.validated_data["note"]
        )
        return Response(s.ProposalSerializer(_proposal(request.user, id, proposal_id)).data)


A = "agreements/<int:id>/"

urlpatterns = [
    path("me/", MeView.as_view(), name="me"),
    path("me/invitations/", MyInvitationsView.as_view(), name="my-invitations"),
    path("organisations/", OrganisationListView.as_view(), name="organisation-list"),
    path("templates/", TemplateListView.as_view(), name="template-list"),
    path("templates/<int:template_id>/", TemplateDetailView.as_view(), name="template-detail"),
    path(
        "templates/<int:template_id>/versions/",
        TemplateVersionCreateView.as_view(),
        name="template-versions",
    ),
    path(
        "templates/<int:template_id>/versions/<int:number>/docx/",
        TemplateVersionDocxView.as_view(),
        name="template-version-docx",
    ),
    path("agreements/", AgreementListView.as_view(), name="agreement-list"),
    path(A, AgreementDetailView.as_view(), name="agreement-detail"),
    path(f"{A}transitions/<str:name>/", TransitionView.as_view(), name="agreement-transition"),
    path(f"{A}parties/", PartyCreateView.as_view(), name="agreement-parties"),
    path(f"{A}signatories/", SignatoryCreateView.as_view(), name="agreement-signatories"),
    path(f"{A}timeline/", TimelineView.as_view(), name="agreement-timeline"),
    path(f"{A}versions/", VersionListView.as_view(), name="version-list"),
    path(f"{A}versions/from-template/", DraftFromTemplateView.as_view(), name="version-draft"),
    path(f"{A}versions/<int:number>/", VersionDetailView.as_view(), name="version-detail"),
    path(f"{A}versions/<int:number>/docx/", VersionDocxView.as_view(), name="version-docx"),
    path(f"{A}versions/<int:number>/pdf/", VersionPdfView.as_view(), name="version-pdf"),
    path(f"{A}compare/", CompareView.as_view(), name="compare"),
    path(f"{A}compare/docx/", CompareDocxView.as_view(), name="compare-docx"),
    path(f"{A}compare/pdf/", ComparePdfView.as_view(), name="compare-pdf"),
    path(f"{A}rounds/", RoundListView.as_view(), name="round-list"),
    path(f"{A}rounds/<int:number>/", RoundDetailView.as_view(), name="round-detail"),
    path(f"{A}rounds/<int:number>/close/", RoundCloseView.as_view(), name="round-close"),
    path(f"{A}rounds/<int:number>/comments/", CommentCreateView.as_view(), name="round-comments"),
    path(
        f"{A}rounds/<int:number>/proposals/", ProposalSubmitView.as_view(), name="round-proposals"
    ),
    path(f"{A}proposals/<int:proposal_id>/", ProposalDetailView.as_view(), name="proposal-detail"),
    path(f"{A}proposals/<int:proposal_id>/docx/", ProposalDocxView.as_view(), name="proposal-docx"),
    path(f"{A}proposals/<int:proposal_id>/pdf/", ProposalPdfView.as_view(), name="proposal-pdf"),
    path(
        f"{A}proposals/<int:proposal_id>/redline/",
        ProposalRedlineView.as_view(),
        name="proposal-redline",
    ),
    path(
        f"{A}proposals/<int:proposal_id>/redline/docx/",
        ProposalRedlineDocxView.as_view(),
        name="proposal-redline-docx",
    ),
    path(
        f"{A}proposals/<int:proposal_id>/redline/pdf/",
        ProposalRedlinePdfView.as_view(),
        name="proposal-redline-pdf",
    ),
    path(
        f"{A}proposals/<int:proposal_id>/accept/",
        ProposalAcceptView.as_view(),
        name="proposal-accept",
    ),
    path(
        f"{A}proposals/<int:proposal_id>/reject/",
        ProposalRejectView.as_view(),
        name="proposal-reject",
    ),
]
