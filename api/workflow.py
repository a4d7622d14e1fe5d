"""The process around each agreement, through the API: each user's inbox and claiming a task, the
process of an agreement (status, tasks, diagram), its reviewers, the legal review with its
checklist, the signing order, a signatory's delegation and decline, resuming a suspended signing,
and the language of one's e-mail.

Like the workflow pages (workflow/views.py), these read through ``workflow.selectors`` and act
only through ``workflow.services``: the services check who may act, in which state, and audit a
refused attempt; their DomainError becomes the API's one error shape (api/errors.py).
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import Http404, HttpResponse
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from agreements.models import Agreement, Signatory
from agreements.selectors import visible_agreements
from api.common import (
    AGREEMENT_ID,
    ERRORS,
    LIST_ERRORS,
    MAX_ID,
    READ_ERRORS,
    json_errors,
    path_id,
    visible_agreement,
)
from workflow import engine, selectors, services
from workflow.flows import PHASE_OF_NODE
from workflow.models import (
    AgreementWorkflow,
    ItemOutcome,
    ReviewDecision,
    SigningOrder,
    TaskDeadline,
    UserPreferences,
)

TAGS = ["workflow"]
TASK_ID = path_id("task_pk", gettext_lazy("The task's id."))
SIGNATORY_ID = path_id("signatory_pk", gettext_lazy("The signatory's id."))
USER_ID = path_id("user_pk", gettext_lazy("The reviewer's user id."))


def _person(user) -> str:
    return user.get_full_name() or user.get_username()


def _user_or_field_error(field: str, pk: int):
    user = get_user_model().objects.filter(pk=pk, is_active=True).first()
    if user is None:
        raise serializers.ValidationError({field: [_("There is no active person with this id.")]})
    return user


# Inbox -----------------------------------------------------------------------------------------


class InboxTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="task_id", help_text="The task's id (to claim it).")
    agreement = serializers.IntegerField(source="agreement_id")
    agreement_subject = serializers.CharField()
    kind = serializers.ChoiceField(
        source="node",
        choices=list(PHASE_OF_NODE),
        help_text="The step of the process: draft, negotiation, review, sign, "
        "decline_decision, registration.",
    )
    phase = serializers.CharField(help_text="The phase whose deadline applies.")
    title = serializers.CharField(help_text="The task's name, in the request's language.")
    status = serializers.CharField(help_text="NEW (nobody holds it yet) or ASSIGNED.")
    created = serializers.DateTimeField()
    due_at = serializers.DateTimeField(allow_null=True)
    overdue = serializers.BooleanField()
    claimable = serializers.BooleanField(
        help_text="Nobody holds it and you may take it (POST /tasks/{id}/claim/)."
    )
    signatory = serializers.SerializerMethodField(
        help_text="For a signing task: the signatory whose signature it asks for."
    )

    def get_signatory(self, item) -> int | None:
        return item.data.get("signatory")


class InboxFilterSerializer(serializers.Serializer):
    agreement = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_ID, help_text="Only this agreement's tasks."
    )
    kind = serializers.ChoiceField(choices=list(PHASE_OF_NODE), required=False)
    phase = serializers.ChoiceField(choices=sorted(set(PHASE_OF_NODE.values())), required=False)
    overdue = serializers.BooleanField(required=False, allow_null=True, default=None)
    claimable = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only tasks nobody holds that you may take; false: only your own.",
    )


def _matches(item, filters: dict) -> bool:
    if "agreement" in filters and item.agreement_id != filters["agreement"]:
        return False
    if "kind" in filters and item.node != filters["kind"]:
        return False
    if "phase" in filters and item.phase != filters["phase"]:
        return False
    for flag in ("overdue", "claimable"):
        if filters.get(flag) is not None and getattr(item, flag) != filters[flag]:
            return False
    return True


class TaskList(GenericAPIView):
    serializer_class = InboxTaskSerializer
    filter_backends = []

    @extend_schema(
        tags=TAGS,
        summary="My tasks",
        description="The open tasks of the authenticated user across agreements, soonest due "
        "first (no due date last), then the tasks nobody holds that they may take (reviews of "
        "agreements without named reviewers that they did not draft; registrations for "
        "registrars).",
        parameters=[InboxFilterSerializer],
        responses={200: InboxTaskSerializer(many=True), **LIST_ERRORS},
    )
    def get(self, request):
        filters = InboxFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        wanted = {k: v for k, v in filters.validated_data.items() if v is not None}
        items = [i for i in selectors.open_tasks_for(request.user) if _matches(i, wanted)]
        page = self.paginate_queryset(items)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


class TaskClaim(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Take a task",
        description="Take a task nobody holds yet: a review when no reviewer was named (an "
        "independent reviewer), a registration (a registrar). Taking a task you already hold "
        "changes nothing.",
        parameters=[TASK_ID],
        request=None,
        responses={200: InboxTaskSerializer, **ERRORS},
    )
    def post(self, request, task_pk: int):
        deadline = (
            TaskDeadline.objects.filter(task_id=task_pk).first() if task_pk <= MAX_ID else None
        )
        if (
            deadline is None
            or not visible_agreements(request.user).filter(pk=deadline.agreement_id).exists()
        ):
            raise Http404(_("There is no such task, or you may not see it."))
        task = services.task_claim(actor=request.user, task=task_pk)
        item = next(i for i in selectors.open_tasks_for(request.user) if i.task_id == task.pk)
        return Response(InboxTaskSerializer(item).data)


# Process ---------------------------------------------------------------------------------------


class ProcessTaskSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="task_id")
    kind = serializers.CharField(source="node")
    title = serializers.CharField()
    status = serializers.CharField(help_text="NEW, ASSIGNED, DONE or CANCELED.")
    owner = serializers.CharField(help_text="Who holds or held it (empty: nobody).")
    created = serializers.DateTimeField()
    finished = serializers.DateTimeField(allow_null=True)
    due_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.CharField(help_text="How it ended (approve, signed, declined…).")


class ProcessNodeSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField(allow_null=True, help_text="Status of its latest task.")


class PlanSignerSerializer(serializers.Serializer):
    signatory = serializers.CharField()
    party = serializers.CharField()


class SigningPlanSerializer(serializers.Serializer):
    order = serializers.ChoiceField(choices=SigningOrder.choices)
    stages = serializers.ListField(
        child=PlanSignerSerializer(many=True),
        help_text="Who signs, stage by stage (one stage per signatory when sequential).",
    )


class DeclinedSerializer(serializers.Serializer):
    name = serializers.CharField(required=False)
    party = serializers.CharField(required=False)
    reason = serializers.CharField(required=False)


class ProcessSerializer(serializers.Serializer):
    agreement = serializers.IntegerField()
    agreement_state = serializers.CharField(help_text="The agreement's state.")
    started = serializers.BooleanField(help_text="Whether the agreement has a process.")
    process_id = serializers.IntegerField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="The process's status.")
    current = serializers.ListField(
        child=serializers.CharField(), help_text="The steps with an open task: where it is now."
    )
    open_tasks = ProcessTaskSerializer(many=True)
    history = ProcessTaskSerializer(many=True, help_text="Completed and cancelled tasks.")
    nodes = ProcessNodeSerializer(many=True, help_text="Every step of the flow, in chart order.")
    signing_plan = SigningPlanSerializer()
    declined = DeclinedSerializer(
        allow_null=True, help_text="While signing is suspended by a decline: who and why."
    )


def _signing_plan(agreement: Agreement) -> dict:
    plan = selectors.signing_plan(agreement)
    return {
        "order": plan["order"],
        "stages": [
            [{"signatory": name, "party": party} for name, party in stage]
            for stage in plan["stages"]
        ],
    }


def _process_data(agreement: Agreement) -> dict:
    position = selectors.process_position(agreement)
    declined = None
    if position is not None and "decline_decision" in position.current:
        declined = (engine.process_for(agreement).data or {}).get("declined_info") or {}
    return {
        "agreement": agreement.pk,
        "agreement_state": agreement.state,
        "started": position is not None,
        "process_id": position.process_id if position else None,
        "status": position.status if position else None,
        "current": position.current if position else [],
        "open_tasks": position.open_tasks if position else [],
        "history": position.history if position else [],
        "nodes": [
            {"name": name, "title": title, "status": node_status}
            for name, title, node_status in (position.nodes if position else [])
        ],
        "signing_plan": _signing_plan(agreement),
        "declined": declined,
    }


def _process_response(agreement: Agreement, *, code=status.HTTP_200_OK) -> Response:
    agreement.refresh_from_db()
    return Response(ProcessSerializer(_process_data(agreement)).data, status=code)


class ProcessDetail(APIView):
    @extend_schema(
        tags=TAGS,
        summary="The agreement's process",
        description="Where the agreement's process stands: its status, the open tasks with "
        "their owners and due dates, the completed ones, every step of the flow with the status "
        "of its latest task, and the signing plan. ``started`` is false for an agreement "
        "without a process.",
        parameters=[AGREEMENT_ID],
        responses={200: ProcessSerializer, **READ_ERRORS},
    )
    def get(self, request, pk: int):
        return _process_response(visible_agreement(request.user, pk))


class SVGRenderer(BaseRenderer):
    media_type = "image/svg+xml"
    format = "svg"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data.encode() if isinstance(data, str) else data


class ProcessDiagram(APIView):
    # Errors are JSON whatever the client accepts (api.errors).
    renderer_classes = [JSONRenderer, SVGRenderer]

    @extend_schema(
        tags=TAGS,
        summary="The process diagram",
        description="The diagram of the flow as SVG, the agreement's tasks marked by status: "
        "the chart the web interface shows.",
        parameters=[AGREEMENT_ID],
        responses={
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="SVG"),
            **json_errors(READ_ERRORS),
        },
    )
    def get(self, request, pk: int):
        agreement = visible_agreement(request.user, pk)
        return HttpResponse(
            selectors.process_chart_svg(agreement), content_type="image/svg+xml; charset=utf-8"
        )


class ProcessStart(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Start the process",
        description="Start the process of an agreement that has none (one created before the "
        "workflow, or with automatic start turned off): the responsible legal officer or an "
        "administrator.",
        parameters=[AGREEMENT_ID],
        request=None,
        responses={201: ProcessSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        agreement = visible_agreement(request.user, pk)
        services.process_start(actor=request.user, agreement=agreement)
        return _process_response(agreement, code=status.HTTP_201_CREATED)


class ResumeSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class SigningResume(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Resume a suspended signing",
        description="After a signatory declined, the responsible legal officer resumes the "
        "signing: whoever has not signed yet gets their task again, in the signing order.",
        parameters=[AGREEMENT_ID],
        request=ResumeSerializer,
        responses={200: ProcessSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        agreement = visible_agreement(request.user, pk)
        body = ResumeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.signing_resume(
            actor=request.user, agreement=agreement, note=body.validated_data["note"]
        )
        return _process_response(agreement)


# Reviewers -------------------------------------------------------------------------------------


class ReviewerSerializer(serializers.Serializer):
    user = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    name = serializers.SerializerMethodField()
    named_at = serializers.DateTimeField()

    def get_name(self, reviewer) -> str:
        return _person(reviewer.user)


class ReviewerNameSerializer(serializers.Serializer):
    user = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, help_text="The id of a person with the reviewer role."
    )


class ReviewerList(APIView):
    @extend_schema(
        tags=TAGS,
        summary="The named reviewers",
        parameters=[AGREEMENT_ID],
        responses={200: ReviewerSerializer(many=True), **READ_ERRORS},
    )
    def get(self, request, pk: int):
        agreement = visible_agreement(request.user, pk)
        return Response(ReviewerSerializer(selectors.named_reviewers(agreement), many=True).data)

    @extend_schema(
        tags=TAGS,
        summary="Name a reviewer",
        description="The responsible legal officer names a reviewer, in draft or negotiation; "
        "never someone who drafted the agreement (four-eyes principle).",
        parameters=[AGREEMENT_ID],
        request=ReviewerNameSerializer,
        responses={201: ReviewerSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        agreement = visible_agreement(request.user, pk)
        body = ReviewerNameSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = _user_or_field_error("user", body.validated_data["user"])
        reviewer = services.reviewer_name(actor=request.user, agreement=agreement, user=user)
        return Response(ReviewerSerializer(reviewer).data, status=status.HTTP_201_CREATED)


class ReviewerRemove(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Remove a reviewer",
        parameters=[AGREEMENT_ID, USER_ID],
        responses={204: None, **ERRORS},
    )
    def delete(self, request, pk: int, user_pk: int):
        agreement = visible_agreement(request.user, pk)
        user = get_user_model().objects.filter(pk=user_pk).first()
        if user is None:
            raise Http404(_("There is no such person."))
        services.reviewer_remove(actor=request.user, agreement=agreement, user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# Legal review ----------------------------------------------------------------------------------


class ChecklistItemSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="What to send as «code» in the review.")
    label = serializers.CharField()


class ChecklistSerializer(serializers.Serializer):
    items = ChecklistItemSerializer(many=True)
    outcomes = serializers.ListField(
        child=serializers.CharField(), help_text="The outcomes an item may have."
    )
    decisions = serializers.ListField(
        child=serializers.CharField(), help_text="The decisions a reviewer may take."
    )


class ReviewChecklist(APIView):
    @extend_schema(
        tags=TAGS,
        summary="The review checklist",
        description="What each reviewer answers, item by item (an item per party for the "
        "competence to sign), labels in the request's language.",
        parameters=[AGREEMENT_ID],
        responses={200: ChecklistSerializer, **READ_ERRORS},
    )
    def get(self, request, pk: int):
        agreement = visible_agreement(request.user, pk)
        data = {
            "items": [
                {"code": i.code, "label": i.label} for i in selectors.review_checklist(agreement)
            ],
            "outcomes": ItemOutcome.values,
            "decisions": ReviewDecision.values,
        }
        return Response(ChecklistSerializer(data).data)


class ItemOutcomeSerializer(serializers.Serializer):
    code = serializers.CharField(max_length=100)
    outcome = serializers.ChoiceField(choices=ItemOutcome.choices)
    note = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=5000,
        help_text="Required when not compliant.",
    )


class ReviewSubmitSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=10000,
        help_text="Required to request changes: it goes to the legal officer.",
    )
    outcomes = ItemOutcomeSerializer(many=True, help_text="One per item of the checklist.")
    task = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=MAX_ID,
        default=None,
        help_text="The review task you worked on: if someone closed it meanwhile you are told, "
        "instead of acting on another.",
    )

    def validate_outcomes(self, value):
        codes = [item["code"] for item in value]
        if len(codes) != len(set(codes)):
            raise serializers.ValidationError(gettext_lazy("Give each item once."))
        return value


class ReviewReportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    agreement = serializers.IntegerField(source="agreement_id")
    agreement_state = serializers.CharField(
        source="agreement.state", help_text="The agreement's state after the review."
    )
    reviewer = serializers.CharField(source="reviewer.username")
    version = serializers.IntegerField(source="version_id")
    round = serializers.IntegerField()
    decision = serializers.ChoiceField(choices=ReviewDecision.choices)
    reason = serializers.CharField()
    items = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()


class ReviewSubmit(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Submit a review",
        description="An independent reviewer (who did not draft it) submits the checklist and "
        "their decision. Requesting changes sends the agreement back to negotiation at once, "
        "with the reason; the last approval approves it (state «signature»).",
        parameters=[AGREEMENT_ID],
        request=ReviewSubmitSerializer,
        responses={201: ReviewReportSerializer, **ERRORS},
    )
    def post(self, request, pk: int):
        agreement = visible_agreement(request.user, pk)
        body = ReviewSubmitSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        report = services.review_submit(
            actor=request.user,
            agreement=agreement,
            outcomes={
                item["code"]: {"outcome": item["outcome"], "note": item["note"]}
                for item in data["outcomes"]
            },
            decision=data["decision"],
            reason=data["reason"],
            task=data["task"],
        )
        report.agreement.refresh_from_db()
        return Response(ReviewReportSerializer(report).data, status=status.HTTP_201_CREATED)


# Signing order ---------------------------------------------------------------------------------


class SigningOrderSerializer(serializers.Serializer):
    order = serializers.ChoiceField(choices=SigningOrder.choices)
    stages = serializers.ListField(
        child=serializers.ListField(
            child=serializers.IntegerField(min_value=1, max_value=MAX_ID), allow_empty=True
        ),
        required=False,
        default=list,
        help_text="For «staged»: the stages in order, each a list of party ids; parties in no "
        "stage sign last, together.",
    )


class SigningOrderOutSerializer(serializers.Serializer):
    order = serializers.ChoiceField(choices=SigningOrder.choices)
    stages = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    plan = SigningPlanSerializer(help_text="Who signs, stage by stage, by name.")


def _signing_order_data(agreement) -> dict:
    config = AgreementWorkflow.objects.filter(agreement=agreement).first()
    return {
        "order": config.signing_order if config else SigningOrder.PARALLEL,
        "stages": (config.signing_stages or []) if config else [],
        "plan": _signing_plan(agreement),
    }


class SigningOrderDetail(APIView):
    @extend_schema(
        tags=TAGS,
        summary="The signing order",
        parameters=[AGREEMENT_ID],
        responses={200: SigningOrderOutSerializer, **READ_ERRORS},
    )
    def get(self, request, pk: int):
        agreement = visible_agreement(request.user, pk)
        return Response(SigningOrderOutSerializer(_signing_order_data(agreement)).data)

    @extend_schema(
        tags=TAGS,
        summary="Set the signing order",
        description="The responsible legal officer chooses, before the signatures start: all in "
        "parallel, one after the other in party order, or in stages.",
        parameters=[AGREEMENT_ID],
        request=SigningOrderSerializer,
        responses={200: SigningOrderOutSerializer, **ERRORS},
    )
    def put(self, request, pk: int):
        agreement = visible_agreement(request.user, pk)
        body = SigningOrderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        order = body.validated_data["order"]
        services.signing_order_set(
            actor=request.user,
            agreement=agreement,
            order=order,
            stages=body.validated_data["stages"] if order == SigningOrder.STAGED else None,
        )
        return Response(SigningOrderOutSerializer(_signing_order_data(agreement)).data)


# Signatories: delegate, decline ----------------------------------------------------------------


def _signatory_or_404(agreement, signatory_pk: int) -> Signatory:
    signatory = Signatory.objects.filter(pk=signatory_pk, party__agreement_id=agreement.pk).first()
    if signatory is None:
        raise Http404(_("There is no such signatory of this agreement."))
    return signatory


class DelegateSerializer(serializers.Serializer):
    to_user = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text="The delegate: another member of the same party, who becomes the signatory.",
    )
    act = serializers.CharField(
        max_length=500, allow_blank=True, help_text="The act that authorises the delegation."
    )
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    fiscal_code = serializers.CharField(
        max_length=16,
        required=False,
        allow_blank=True,
        default="",
        help_text="As in the delegate's certificate, so that their signature is matched.",
    )


class DelegationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    signatory = serializers.IntegerField(source="signatory_id")
    from_user = serializers.CharField(source="from_user.username")
    to_user = serializers.CharField(source="to_user.username")
    act = serializers.CharField()
    created_at = serializers.DateTimeField()


class SigningDelegateView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Delegate a signature",
        description="The signatory (or the responsible legal officer for them) hands the "
        "signature to another member of the same party, with the authorising act, while the "
        "agreement is being signed and they have not signed.",
        parameters=[AGREEMENT_ID, SIGNATORY_ID],
        request=DelegateSerializer,
        responses={201: DelegationSerializer, **ERRORS},
    )
    def post(self, request, pk: int, signatory_pk: int):
        agreement = visible_agreement(request.user, pk)
        signatory = _signatory_or_404(agreement, signatory_pk)
        body = DelegateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        delegation = services.signing_delegate(
            actor=request.user,
            agreement=agreement,
            signatory=signatory,
            to_user=_user_or_field_error("to_user", data["to_user"]),
            act=data["act"],
            title=data["title"],
            fiscal_code=data["fiscal_code"],
        )
        return Response(DelegationSerializer(delegation).data, status=status.HTTP_201_CREATED)


class DeclineSerializer(serializers.Serializer):
    reason = serializers.CharField(
        allow_blank=True, max_length=10000, help_text="Kept in the record of the procedure."
    )


class DeclineOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    signatory = serializers.IntegerField(source="signatory_id")
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class SigningDeclineView(APIView):
    @extend_schema(
        tags=TAGS,
        summary="Decline to sign",
        description="The signatory declines, with a reason: signing stops and the responsible "
        "legal officer decides whether to resume it or withdraw the agreement.",
        parameters=[AGREEMENT_ID, SIGNATORY_ID],
        request=DeclineSerializer,
        responses={201: DeclineOutSerializer, **ERRORS},
    )
    def post(self, request, pk: int, signatory_pk: int):
        agreement = visible_agreement(request.user, pk)
        signatory = _signatory_or_404(agreement, signatory_pk)
        body = DeclineSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        decline = services.signing_decline(
            actor=request.user,
            agreement=agreement,
            signatory=signatory,
            reason=body.validated_data["reason"],
        )
        return Response(DeclineOutSerializer(decline).data, status=status.HTTP_201_CREATED)


# Preferences -----------------------------------------------------------------------------------


class LanguageSerializer(serializers.Serializer):
    language = serializers.ChoiceField(
        choices=settings.LANGUAGES, help_text="The language of the e-mail you receive."
    )


class LanguagePreference(APIView):
    @extend_schema(
        tags=TAGS,
        summary="My e-mail language",
        responses={200: LanguageSerializer, **READ_ERRORS},
    )
    def get(self, request):
        current = (
            UserPreferences.objects.filter(user=request.user)
            .values_list("language", flat=True)
            .first()
        )
        return Response({"language": current or settings.LANGUAGE_CODE})

    @extend_schema(
        tags=TAGS,
        summary="Set my e-mail language",
        request=LanguageSerializer,
        responses={200: LanguageSerializer, **ERRORS},
    )
    def put(self, request):
        body = LanguageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        preferences = services.preferences_set_language(
            actor=request.user, user=request.user, language=body.validated_data["language"]
        )
        return Response({"language": preferences.language})


urlpatterns = [
    path("tasks/", TaskList.as_view(), name="tasks"),
    path("tasks/<int:task_pk>/claim/", TaskClaim.as_view(), name="task-claim"),
    path("agreements/<int:pk>/process/", ProcessDetail.as_view(), name="process"),
    path(
        "agreements/<int:pk>/process/diagram.svg",
        ProcessDiagram.as_view(),
        name="process-diagram",
    ),
    path("agreements/<int:pk>/process/start/", ProcessStart.as_view(), name="process-start"),
    path("agreements/<int:pk>/process/resume/", SigningResume.as_view(), name="signing-resume"),
    path("agreements/<int:pk>/reviewers/", ReviewerList.as_view(), name="reviewers"),
    path(
        "agreements/<int:pk>/reviewers/<int:user_pk>/",
        ReviewerRemove.as_view(),
        name="reviewer-remove",
    ),
    path(
        "agreements/<int:pk>/review/checklist/",
        ReviewChecklist.as_view(),
        name="review-checklist",
    ),
    path("agreements/<int:pk>/review/", ReviewSubmit.as_view(), name="review"),
    path("agreements/<int:pk>/signing-order/", SigningOrderDetail.as_view(), name="signing-order"),
    path(
        "agreements/<int:pk>/signatories/<int:signatory_pk>/delegate/",
        SigningDelegateView.as_view(),
        name="signing-delegate",
    ),
    path(
        "agreements/<int:pk>/signatories/<int:signatory_pk>/decline/",
        SigningDeclineView.as_view(),
        name="signing-decline",
    ),
    path("preferences/language/", LanguagePreference.as_view(), name="language"),
]
