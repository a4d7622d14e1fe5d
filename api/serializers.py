"""Serializers of the agreements part of the API: what is read (output) and what a request may
send (input). They check the shape of the input only; the services decide everything else.

Output serializers read what the selectors prefetch; other parts of the API may reuse the small
ones (``UserRefSerializer``, ``OrganisationRefSerializer``).
"""

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agreements.forms import variable_kind
from agreements.models import (
    Agreement,
    AgreementParty,
    AgreementState,
    AgreementVersion,
    Organisation,
    ProposalStatus,
)
from agreements.roles import Role
from agreements.transitions import TRANSITIONS
from templates_docx.context import COMPUTED_VARIABLES, user_variables

MAX_DATA_DEPTH = 8
MAX_DATA_ITEMS = 2000
MAX_TEXT = 100_000
# How a template variable is given (agreements.forms.variable_kind).
TEMPLATE_VARIABLE_KINDS = ["boolean", "list", "records", "short", "text"]

# The names of the enumerations in the OpenAPI schema (settings.SPECTACULAR_SETTINGS
# ["ENUM_NAME_OVERRIDES"]): the same choices reach the schema through several fields.
ENUM_NAME_OVERRIDES = {
    "AgreementStateEnum": "agreements.models.AgreementState",
    "AgreementKindEnum": "agreements.models.Agreement.Kind",
    "OrganisationKindEnum": "agreements.models.Organisation.Kind",
    "ProposalStatusEnum": "agreements.models.ProposalStatus",
    "TemplateVariableKindEnum": "api.serializers.TEMPLATE_VARIABLE_KINDS",
}


def _url(name: str, *args) -> str:
    return reverse(f"api:{name}", args=args)


# Small references --------------------------------------------------------------------------


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    full_name = serializers.SerializerMethodField()

    def get_full_name(self, user) -> str:
        return user.get_full_name() or user.get_username()


class OrganisationRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=Organisation.Kind.choices, read_only=True)


class RoleSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=Role.choices, read_only=True)
    label = serializers.CharField(read_only=True)


# Me and organisations ----------------------------------------------------------------------


class MembershipSerializer(serializers.Serializer):
    organisation = OrganisationRefSerializer(read_only=True)
    title = serializers.CharField(read_only=True)


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    full_name = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
    language = serializers.CharField(
        read_only=True, help_text=_("The language of the messages of this answer.")
    )
    roles = RoleSerializer(many=True, read_only=True)
    organisations = MembershipSerializer(many=True, read_only=True)
    can_create_agreements = serializers.BooleanField(read_only=True)


class OrganisationSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)

    class Meta:
        model = Organisation
        fields = ["id", "name", "kind", "kind_display", "fiscal_code", "vat_number", "ipa_code"]
        read_only_fields = fields


class OrganisationCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    kind = serializers.ChoiceField(choices=Organisation.Kind.choices)
    fiscal_code = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")
    vat_number = serializers.CharField(max_length=11, required=False, allow_blank=True, default="")
    ipa_code = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


# Templates ---------------------------------------------------------------------------------


class TemplateVariableSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(
        choices=TEMPLATE_VARIABLE_KINDS,
        read_only=True,
        help_text=_(
            "How to give the value in «data»: boolean, list (of texts), records (list of "
            "objects), short or text."
        ),
    )


class TemplateVersionSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    number = serializers.IntegerField(read_only=True)
    sha256 = serializers.CharField(read_only=True)
    note = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    user_variables = serializers.SerializerMethodField(
        help_text=_("The values to give in «data» when drafting from this version.")
    )
    computed_variables = serializers.SerializerMethodField(
        help_text=_("The values taken from the agreement itself.")
    )
    docx_url = serializers.SerializerMethodField(help_text=_("The template's DOCX file."))

    @extend_schema_field(TemplateVariableSerializer(many=True))
    def get_user_variables(self, version):
        return [
            {"name": name, "kind": variable_kind(name)}
            for name in user_variables(version.variables)
        ]

    def get_computed_variables(self, version) -> list[str]:
        return [name for name in version.variables if name in COMPUTED_VARIABLES]

    def get_docx_url(self, version) -> str:
        return _url("template-version-docx", version.template_id, version.number)


class TemplateSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    kind = serializers.ChoiceField(choices=Agreement.Kind.choices, read_only=True)
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    description = serializers.CharField(read_only=True)
    latest_version = TemplateVersionSerializer(read_only=True, allow_null=True)


class TemplateDetailSerializer(TemplateSerializer):
    versions = TemplateVersionSerializer(source="versions_list", many=True, read_only=True)


class TemplateUploadSerializer(serializers.Serializer):
    """A new template, or the next version of one: the name says which (as in the library's
    upload form)."""

    name = serializers.CharField(
        max_length=200,
        help_text=_(
            "A new name adds a template to the library; the name of an existing template adds "
            "its next version."
        ),
    )
    kind = serializers.ChoiceField(choices=Agreement.Kind.choices)
    docx = serializers.FileField(
        help_text=_("A Word document with docxtpl tags, e.g. {{ agreement.oggetto }}.")
    )
    description = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_TEXT,
        help_text=_("Only for a new template: what it is for. It does not change afterwards."),
    )
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_TEXT,
        help_text=_("What this version changes."),
    )


# Agreements --------------------------------------------------------------------------------


class PartyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    position = serializers.IntegerField(read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)


class AgreementSummarySerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    state_display = serializers.CharField(source="get_state_display", read_only=True)
    legal_officer = UserRefSerializer(read_only=True)
    parties = PartyRefSerializer(many=True, read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Agreement
        fields = [
            "id",
            "url",
            "subject",
            "kind",
            "kind_display",
            "state",
            "state_display",
            "legal_officer",
            "parties",
            "valid_from",
            "valid_until",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_url(self, agreement) -> str:
        return _url("agreement-detail", agreement.pk)


class AgreementCreateSerializer(serializers.Serializer):
    subject = serializers.CharField(max_length=MAX_TEXT)
    kind = serializers.ChoiceField(choices=Agreement.Kind.choices)
    valid_from = serializers.DateField(required=False, allow_null=True, default=None)
    valid_until = serializers.DateField(required=False, allow_null=True, default=None)


class SignatorySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    position = serializers.IntegerField(read_only=True)
    user = UserRefSerializer(read_only=True)
    full_name = serializers.CharField(read_only=True)
    title = serializers.CharField(read_only=True)
    authorising_act = serializers.CharField(read_only=True)
    fiscal_code = serializers.CharField(read_only=True)
    required = serializers.BooleanField(read_only=True)


class PartySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    position = serializers.IntegerField(read_only=True)
    organisation = OrganisationRefSerializer(read_only=True)
    role_description = serializers.CharField(read_only=True)
    signatories = SignatorySerializer(many=True, read_only=True)


class VersionRefSerializer(serializers.Serializer):
    number = serializers.IntegerField(read_only=True)
    docx_sha256 = serializers.CharField(read_only=True)
    pdf_sha256 = serializers.CharField(read_only=True)
    url = serializers.SerializerMethodField()

    def get_url(self, version) -> str:
        return _url("version-detail", version.agreement_id, version.number)


class ActionSerializer(serializers.Serializer):
    name = serializers.ChoiceField(choices=list(TRANSITIONS), read_only=True)
    label = serializers.CharField(read_only=True)
    enabled = serializers.BooleanField(
        read_only=True, help_text=_("False while «blockers» lists what is still missing.")
    )
    blockers = serializers.ListField(child=serializers.CharField(), read_only=True)
    needs_reason = serializers.BooleanField(read_only=True)
    method = serializers.CharField(read_only=True)
    url = serializers.CharField(read_only=True)


class AgreementDetailSerializer(AgreementSummarySerializer):
    parties = PartySerializer(many=True, read_only=True)
    closing_reason = serializers.CharField(read_only=True)
    current_version = serializers.SerializerMethodField(
        help_text=_("Null when there is no version yet, or when you may not read it.")
    )
    approved_version = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField(
        help_text=_("The lifecycle actions you may take now, with the URL to call.")
    )

    class Meta(AgreementSummarySerializer.Meta):
        fields = [
            *AgreementSummarySerializer.Meta.fields,
            "closing_reason",
            "current_version",
            "approved_version",
            "actions",
        ]
        read_only_fields = fields

    def _readable(self, agreement, version_id):
        if version_id is None:
            return None
        # ``versions`` holds only the versions this user may read (agreement_for_detail).
        version = next((v for v in agreement.versions.all() if v.pk == version_id), None)
        return VersionRefSerializer(version).data if version is not None else None

    @extend_schema_field(VersionRefSerializer(allow_null=True))
    def get_current_version(self, agreement):
        return self._readable(agreement, agreement.current_version_id)

    @extend_schema_field(VersionRefSerializer(allow_null=True))
    def get_approved_version(self, agreement):
        return self._readable(agreement, agreement.approved_version_id)

    @extend_schema_field(ActionSerializer(many=True))
    def get_actions(self, agreement):
        return [
            {
                "name": action.name,
                "label": str(action.info.label),
                "enabled": action.enabled,
                "blockers": action.blockers,
                "needs_reason": action.info.needs_reason,
                "method": "POST",
                "url": _url("agreement-transition", agreement.pk, action.name),
            }
            for action in self.context.get("actions", [])
        ]


class TransitionSerializer(serializers.Serializer):
    expected_state = serializers.ChoiceField(
        choices=AgreementState.choices,
        help_text=_(
            "The state you saw: if someone changed the agreement meanwhile, nothing is done "
            "(409 concurrent_change)."
        ),
    )
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_TEXT,
        help_text=_("Required by request_changes, reject and withdraw; kept in the record."),
    )


class PartyCreateSerializer(serializers.Serializer):
    organisation = serializers.PrimaryKeyRelatedField(queryset=Organisation.objects.all())
    role_description = serializers.CharField(
        max_length=255, required=False, allow_blank=True, default=""
    )


@extend_schema_field(OpenApiTypes.INT)
class _PartyOfAgreementField(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        agreement = self.parent.agreement
        if agreement is None:
            return AgreementParty.objects.none()
        return agreement.parties.select_related("organisation")


class SignatoryCreateSerializer(serializers.Serializer):
    party = _PartyOfAgreementField(help_text=_("The id of a party of this agreement."))
    user = serializers.PrimaryKeyRelatedField(
        queryset=get_user_model().objects.filter(is_active=True),
        help_text=_("The id of a person who acts for the party's organisation."),
    )
    title = serializers.CharField(max_length=255)
    authorising_act = serializers.CharField(max_length=500)
    fiscal_code = serializers.CharField(max_length=16, required=False, allow_blank=True, default="")

    def __init__(self, *args, agreement=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.agreement = agreement


# Versions ----------------------------------------------------------------------------------


class TemplateUsedSerializer(serializers.Serializer):
    template_id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(read_only=True)
    version_id = serializers.IntegerField(read_only=True)
    version_number = serializers.IntegerField(read_only=True)


class VersionSerializer(serializers.ModelSerializer):
    parent = serializers.SerializerMethodField()
    source_display = serializers.CharField(source="get_source_display", read_only=True)
    author = UserRefSerializer(read_only=True)
    template = serializers.SerializerMethodField()
    is_current = serializers.SerializerMethodField()
    is_approved = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    docx_url = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = AgreementVersion
        fields = [
            "number",
            "url",
            "parent",
            "source",
            "source_display",
            "note",
            "author",
            "created_at",
            "docx_sha256",
            "pdf_sha256",
            "docx_url",
            "pdf_url",
            "template",
            "data",
            "is_current",
            "is_approved",
        ]
        read_only_fields = fields

    def get_parent(self, version) -> int | None:
        return version.parent.number if version.parent_id else None

    @extend_schema_field(TemplateUsedSerializer(allow_null=True))
    def get_template(self, version):
        used = version.template_version
        if used is None:
            return None
        return {
            "template_id": used.template_id,
            "name": used.template.name,
            "version_id": used.pk,
            "version_number": used.number,
        }

    def get_is_current(self, version) -> bool:
        return version.agreement.current_version_id == version.pk

    def get_is_approved(self, version) -> bool:
        return version.agreement.approved_version_id == version.pk

    def get_url(self, version) -> str:
        return _url("version-detail", version.agreement_id, version.number)

    def get_docx_url(self, version) -> str:
        return _url("version-docx", version.agreement_id, version.number)

    def get_pdf_url(self, version) -> str | None:
        return _url("version-pdf", version.agreement_id, version.number) if version.pdf else None


class DocxUploadSerializer(serializers.Serializer):
    docx = serializers.FileField(help_text=_("The DOCX file."))
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_TEXT)


def _check_data(value, depth=0, counter=None):
    """Template data is JSON of a sane size: text without NUL characters, numbers, booleans,
    lists and objects, not nested too deep."""
    counter = counter if counter is not None else [0]
    counter[0] += 1
    if depth > MAX_DATA_DEPTH or counter[0] > MAX_DATA_ITEMS:
        raise serializers.ValidationError(_("The data is nested too deep or is too large."))
    if isinstance(value, str):
        if "\x00" in value or len(value) > MAX_TEXT:
            raise serializers.ValidationError(
                _("A text holds a NUL character or is too long (at most %(max)d characters).")
                % {"max": MAX_TEXT}
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_data(key, depth + 1, counter)
            _check_data(item, depth + 1, counter)
    elif isinstance(value, list):
        for item in value:
            _check_data(item, depth + 1, counter)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise serializers.ValidationError(_("Numbers must be finite."))
    elif value is not None and not isinstance(value, (bool, int)):
        raise serializers.ValidationError(_("Unsupported value in the data."))


class DraftFromTemplateSerializer(serializers.Serializer):
    template_version = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        help_text=_("The id of a template version (GET /templates/: latest_version.id)."),
    )
    data = serializers.DictField(
        required=False,
        default=dict,
        help_text=_(
            "The values the template asks for (its user_variables). Those left out are empty, "
            "as in the web form: false, an empty list or an empty text."
        ),
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_TEXT)

    def validate_data(self, value):
        _check_data(value)
        return value


# Comparison --------------------------------------------------------------------------------


class CompareQuerySerializer(serializers.Serializer):
    old = serializers.IntegerField(min_value=1, max_value=2**31 - 1)
    new = serializers.IntegerField(min_value=1, max_value=2**31 - 1)

    def validate(self, attrs):
        if attrs["old"] == attrs["new"]:
            raise serializers.ValidationError(_("Choose two different versions."))
        return attrs


class RedlineSummarySerializer(serializers.Serializer):
    paragraphs_inserted = serializers.IntegerField(read_only=True)
    paragraphs_deleted = serializers.IntegerField(read_only=True)
    paragraphs_changed = serializers.IntegerField(read_only=True)
    words_inserted = serializers.IntegerField(read_only=True)
    words_deleted = serializers.IntegerField(read_only=True)


class RedlineSerializer(serializers.Serializer):
    old = serializers.IntegerField(read_only=True)
    new = serializers.IntegerField(read_only=True)
    has_changes = serializers.BooleanField(read_only=True)
    summary_text = serializers.CharField(read_only=True)
    summary = RedlineSummarySerializer(read_only=True)
    html = serializers.CharField(
        read_only=True, help_text=_("The word-level comparison as an HTML fragment.")
    )
    docx_url = serializers.CharField(read_only=True)
    pdf_url = serializers.CharField(read_only=True)


class ProposalRedlineSerializer(serializers.Serializer):
    """A proposal compared with the version its round negotiates on."""

    version = serializers.IntegerField(
        read_only=True, help_text=_("The number of the version the round negotiates on.")
    )
    proposal = serializers.IntegerField(read_only=True, help_text=_("The proposal's id."))
    has_changes = serializers.BooleanField(read_only=True)
    summary_text = serializers.CharField(read_only=True)
    summary = RedlineSummarySerializer(read_only=True)
    html = serializers.CharField(
        read_only=True, help_text=_("The word-level comparison as an HTML fragment.")
    )
    docx_url = serializers.CharField(read_only=True)
    pdf_url = serializers.CharField(read_only=True)


# Negotiation -------------------------------------------------------------------------------


class InvitationSerializer(serializers.Serializer):
    user = UserRefSerializer(read_only=True)
    party = PartyRefSerializer(read_only=True)


class RoundSummarySerializer(serializers.Serializer):
    number = serializers.IntegerField(read_only=True)
    url = serializers.SerializerMethodField()
    version = serializers.IntegerField(source="version.number", read_only=True)
    note = serializers.CharField(read_only=True)
    opened_at = serializers.DateTimeField(read_only=True)
    closed_at = serializers.DateTimeField(read_only=True, allow_null=True)
    is_open = serializers.BooleanField(read_only=True)

    def get_url(self, round_) -> str:
        return _url("round-detail", round_.agreement_id, round_.number)


class RoundListSerializer(RoundSummarySerializer):
    invited_count = serializers.IntegerField(read_only=True)
    pending_count = serializers.IntegerField(
        read_only=True, help_text=_("Proposals waiting for a decision.")
    )


class InvitationRoundSerializer(RoundSummarySerializer):
    """An open round the user is invited to, with the agreement it is about."""

    agreement = serializers.IntegerField(source="agreement_id", read_only=True)
    agreement_subject = serializers.CharField(source="agreement.subject", read_only=True)


class CommentSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    parent = serializers.IntegerField(source="parent_id", read_only=True, allow_null=True)
    depth = serializers.IntegerField(read_only=True, required=False)
    author = UserRefSerializer(read_only=True)
    anchor = serializers.CharField(read_only=True)
    text = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)


class ProposalSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    url = serializers.SerializerMethodField()
    round = serializers.IntegerField(source="round.number", read_only=True)
    party = PartyRefSerializer(read_only=True)
    author = UserRefSerializer(read_only=True)
    note = serializers.CharField(read_only=True)
    created_at = serializers.DateTimeField(read_only=True)
    status = serializers.ChoiceField(choices=ProposalStatus.choices, read_only=True)
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    decided_by = UserRefSerializer(read_only=True, allow_null=True)
    decided_at = serializers.DateTimeField(read_only=True, allow_null=True)
    decision_note = serializers.CharField(read_only=True)
    resulting_version = serializers.SerializerMethodField()
    docx_sha256 = serializers.CharField(read_only=True)
    pdf_sha256 = serializers.CharField(read_only=True)
    docx_url = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()
    redline_url = serializers.SerializerMethodField(
        help_text=_("The proposal compared with the version its round negotiates on.")
    )

    def _agreement_id(self, proposal) -> int:
        return proposal.round.agreement_id

    def get_url(self, proposal) -> str:
        return _url("proposal-detail", self._agreement_id(proposal), proposal.pk)

    def get_resulting_version(self, proposal) -> int | None:
        version = proposal.resulting_version
        return version.number if version is not None else None

    def get_docx_url(self, proposal) -> str:
        return _url("proposal-docx", self._agreement_id(proposal), proposal.pk)

    def get_pdf_url(self, proposal) -> str:
        return _url("proposal-pdf", self._agreement_id(proposal), proposal.pk)

    def get_redline_url(self, proposal) -> str:
        return _url("proposal-redline", self._agreement_id(proposal), proposal.pk)


class RoundDetailSerializer(RoundSummarySerializer):
    opened_by = UserRefSerializer(read_only=True)
    invitations = InvitationSerializer(many=True, read_only=True)
    comments = CommentSerializer(many=True, read_only=True, help_text=_("As a thread."))
    proposals = ProposalSerializer(many=True, read_only=True)


class RoundOpenSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        help_text=_("The number of the version to negotiate on; the current one if left out."),
    )
    invitees = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        required=False,
        max_length=1000,
        help_text=_(
            "Ids of the people to invite, who act for the parties; every one of them if left out."
        ),
    )
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=MAX_TEXT)


class CommentCreateSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=MAX_TEXT)
    anchor = serializers.CharField(max_length=120, required=False, allow_blank=True, default="")
    parent = serializers.IntegerField(
        min_value=1,
        max_value=2**63 - 1,
        required=False,
        allow_null=True,
        default=None,
        help_text=_("The id of the comment of this round you reply to."),
    )


class DecisionSerializer(serializers.Serializer):
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=MAX_TEXT,
        help_text=_("Required to reject: the party will read it."),
    )


# Timeline ----------------------------------------------------------------------------------


class DocumentHashSerializer(serializers.Serializer):
    name = serializers.CharField(read_only=True)
    sha256 = serializers.CharField(read_only=True)


class TimelineEventSerializer(serializers.Serializer):
    seq = serializers.IntegerField(source="event.seq", read_only=True)
    created_at = serializers.DateTimeField(source="event.created_at", read_only=True)
    actor = serializers.CharField(
        source="event.actor_username",
        read_only=True,
        help_text=_("The username; empty for the system."),
    )
    actor_role = serializers.CharField(source="event.actor_role", read_only=True)
    role_label = serializers.CharField(read_only=True)
    action = serializers.CharField(source="event.action", read_only=True)
    action_display = serializers.CharField(source="event.get_action_display", read_only=True)
    object_type = serializers.CharField(source="event.object_type", read_only=True)
    object_id = serializers.CharField(source="event.object_id", read_only=True)
    reason = serializers.CharField(source="event.reason", read_only=True)
    detail = serializers.CharField(
        read_only=True, help_text=_("For a refused action: what was refused and why.")
    )
    documents = DocumentHashSerializer(source="event.document_list", many=True, read_only=True)
    hash = serializers.CharField(source="event.hash", read_only=True)
    prev_hash = serializers.CharField(source="event.prev_hash", read_only=True)
