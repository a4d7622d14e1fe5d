"""Webhooks in the REST API (/api/v1/webhooks/…): a party's system subscribes to the state
changes of the agreements its organisation is party to, and reads the log of deliveries.

Only members of the organisation, and administrators, see and manage its subscriptions. Every
change goes through webhooks.services.
"""

import json
import uuid

import django_filters
from django import forms
from django.http import Http404
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import generics, serializers, status
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response
from rest_framework.views import APIView

from agreements.models import AgreementState, Organisation
from api.common import ERRORS, READ_ERRORS
from stipula.errors import ValidationFailed
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, EventType, Subscription
from webhooks.selectors import visible_deliveries, visible_subscriptions
from webhooks.targets import MAX_URL_LENGTH, validate_target_url

TAGS = ["webhooks"]
SUBSCRIPTION_ID = OpenApiParameter(
    "pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="The subscription's id."
)
DELIVERY_ID = OpenApiParameter(
    "delivery_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The delivery's id."
)
MAX_ID = 2**63 - 1


# Serializers -------------------------------------------------------------------------------------


class SubscriptionSerializer(serializers.ModelSerializer):
    organisation_name = serializers.CharField(source="organisation.name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        help_text=gettext_lazy("Event types delivered; «*» for every type."),
    )
    states = serializers.ListField(
        child=serializers.ChoiceField(choices=AgreementState.choices),
        help_text=gettext_lazy("Only changes into these states; empty for every state."),
    )

    class Meta:
        model = Subscription
        fields = [
            "id",
            "organisation",
            "organisation_name",
            "url",
            "description",
            "event_types",
            "states",
            "active",
            "secret_hint",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class SubscriptionCreatedSerializer(SubscriptionSerializer):
    secret = serializers.CharField(
        help_text=gettext_lazy(
            "The key of the HMAC-SHA256 signature of every delivery. Shown only now: keep it."
        )
    )

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SubscriptionCreateSerializer(serializers.Serializer):
    organisation = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        help_text=gettext_lazy("The party organisation (you must be one of its members)."),
    )
    url = serializers.RegexField(
        r"^https?://[^\s/?#@]+",
        max_length=MAX_URL_LENGTH,
        error_messages={"invalid": gettext_lazy("The URL must start with https:// (or http://).")},
        help_text=gettext_lazy("Where deliveries are POSTed: an https:// (or http://) URL."),
    )
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=EventType.choices),
        required=False,
        allow_empty=False,
        max_length=len(EventType.choices),
        help_text=gettext_lazy("Default: agreement.state_changed."),
    )
    states = serializers.ListField(
        child=serializers.ChoiceField(choices=AgreementState.choices),
        required=False,
        max_length=len(AgreementState.choices),
        help_text=gettext_lazy("Only changes into these states; empty or absent for every state."),
    )
    description = serializers.CharField(
        max_length=services.MAX_DESCRIPTION_LENGTH, required=False, allow_blank=True
    )

    def validate_organisation(self, value):
        organisation = Organisation.objects.filter(pk=value).first()
        if organisation is None:
            raise serializers.ValidationError(_("There is no such organisation."))
        return organisation

    def validate_url(self, value):
        try:
            return validate_target_url(value)
        except ValidationFailed as error:
            raise serializers.ValidationError(str(error)) from None


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "started_at",
            "finished_at",
            "duration_ms",
            "url",
            "status_code",
            "success",
            "error",
            "response_excerpt",
        ]
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(
        source="uuid",
        read_only=True,
        help_text=gettext_lazy("Sent as X-Stipula-Delivery and as «id» in the body."),
    )
    event = serializers.CharField(source="event_type", read_only=True)
    state = serializers.ChoiceField(
        choices=AgreementState.choices,
        allow_blank=True,
        read_only=True,
        help_text=gettext_lazy("The state the agreement reached; empty for a ping."),
    )
    audit_event = serializers.IntegerField(source="audit_event_id", read_only=True, allow_null=True)
    payload = serializers.SerializerMethodField(
        help_text=gettext_lazy("The JSON body sent (the same on every attempt).")
    )
    attempt_log = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = [
            "id",
            "subscription",
            "event",
            "agreement_id",
            "state",
            "audit_event",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "payload",
            "attempt_log",
        ]
        read_only_fields = fields

    def get_payload(self, delivery) -> dict:
        return json.loads(delivery.body)


# Views -------------------------------------------------------------------------------------------


@extend_schema_view(
    get=extend_schema(
        tags=TAGS,
        operation_id="webhook_subscriptions_list",
        summary="Webhook subscriptions of your organisations",
        responses={200: SubscriptionSerializer(many=True), **READ_ERRORS},
    ),
    post=extend_schema(
        tags=TAGS,
        operation_id="webhook_subscriptions_create",
        summary="Subscribe a system to the state changes of your organisation's agreements",
        description=(
            "The answer carries the `secret` once: every delivery is signed with it "
            "(`X-Stipula-Signature: sha256=HMAC-SHA256(secret, timestamp + '.' + body)`)."
        ),
        request=SubscriptionCreateSerializer,
        responses={201: SubscriptionCreatedSerializer, **ERRORS},
    ),
)
class SubscriptionListCreate(generics.ListAPIView):
    serializer_class = SubscriptionSerializer
    filter_backends = [OrderingFilter]
    ordering_fields = ["id", "created_at"]
    ordering = ["id"]

    def get_queryset(self):
        return visible_subscriptions(self.request.user)

    def post(self, request):
        data = SubscriptionCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        subscription, secret = services.subscription_create(
            actor=request.user,
            organisation=data.validated_data["organisation"],
            url=data.validated_data["url"],
            event_types=data.validated_data.get("event_types"),
            states=data.validated_data.get("states"),
            description=data.validated_data.get("description", ""),
        )
        answer = SubscriptionSerializer(subscription).data
        answer["secret"] = secret
        return Response(answer, status=status.HTTP_201_CREATED)


def _visible_subscription(user, pk: str) -> Subscription:
    # The route takes any text, so that a malformed id gets the API's 404, not an HTML page.
    subscription = None
    if pk.isascii() and pk.isdigit() and int(pk) <= MAX_ID:
        subscription = visible_subscriptions(user).filter(pk=int(pk)).first()
    if subscription is None:
        raise Http404(_("There is no such subscription, or you may not see it."))
    return subscription


@extend_schema_view(
    get=extend_schema(
        tags=TAGS,
        operation_id="webhook_subscriptions_retrieve",
        parameters=[SUBSCRIPTION_ID],
        summary="One webhook subscription",
        responses={200: SubscriptionSerializer, **READ_ERRORS},
    ),
    delete=extend_schema(
        tags=TAGS,
        operation_id="webhook_subscriptions_delete",
        parameters=[SUBSCRIPTION_ID],
        summary="Delete a webhook subscription",
        description="Stops its deliveries; waiting ones are cancelled. Its log is kept.",
        responses={204: None, **ERRORS},
    ),
)
class SubscriptionDetail(APIView):
    def get(self, request, pk):
        return Response(SubscriptionSerializer(_visible_subscription(request.user, pk)).data)

    def delete(self, request, pk):
        services.subscription_delete(
            actor=request.user, subscription=_visible_subscription(request.user, pk)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(
    post=extend_schema(
        tags=TAGS,
        operation_id="webhook_subscriptions_ping",
        parameters=[SUBSCRIPTION_ID],
        summary="Send a test delivery (event «ping»)",
        description="Queued at once and sent by the dispatcher; follow it in the deliveries.",
        request=None,
        responses={202: DeliverySerializer, **ERRORS},
    )
)
class SubscriptionPing(APIView):
    def post(self, request, pk):
        delivery = services.subscription_ping(
            actor=request.user, subscription=_visible_subscription(request.user, pk)
        )
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_field(OpenApiTypes.INT)
class IntegerFilter(django_filters.NumberFilter):
    """Any whole number; one out of the ids' range matches nothing (DeliveryFilter)."""

    field_class = forms.IntegerField


class DeliveryFilter(django_filters.FilterSet):
    subscription = IntegerFilter(field_name="subscription_id")
    agreement = IntegerFilter(field_name="agreement_id")
    status = django_filters.ChoiceFilter(choices=Delivery.Status.choices)
    event = django_filters.CharFilter(field_name="event_type", max_length=64)

    class Meta:
        model = Delivery
        fields = ["subscription", "agreement", "status", "event"]

    def filter_queryset(self, queryset):
        for name in ("subscription", "agreement"):
            value = self.form.cleaned_data.get(name)
            if value is not None and not (0 < value <= MAX_ID):
                return queryset.none()
        return super().filter_queryset(queryset)


@extend_schema_view(
    get=extend_schema(
        tags=TAGS,
        operation_id="webhook_deliveries_list",
        summary="Deliveries with their attempts",
        responses={200: DeliverySerializer(many=True), **{400: ERRORS[400]}, **READ_ERRORS},
    )
)
class DeliveryList(generics.ListAPIView):
    serializer_class = DeliverySerializer
    filterset_class = DeliveryFilter
    ordering_fields = ["created_at", "next_attempt_at"]
    ordering = ["-created_at", "-pk"]

    def get_queryset(self):
        return visible_deliveries(self.request.user)


def _visible_delivery(user, delivery_id: str) -> Delivery:
    try:
        key = uuid.UUID(delivery_id)
    except ValueError:
        key = None
    delivery = visible_deliveries(user).filter(uuid=key).first() if key else None
    if delivery is None:
        raise Http404(_("There is no such delivery, or you may not see it."))
    return delivery


@extend_schema_view(
    get=extend_schema(
        tags=TAGS,
        operation_id="webhook_deliveries_retrieve",
        parameters=[DELIVERY_ID],
        summary="One delivery with its attempts",
        responses={200: DeliverySerializer, **READ_ERRORS},
    )
)
class DeliveryDetail(APIView):
    def get(self, request, delivery_id):
        return Response(DeliverySerializer(_visible_delivery(request.user, delivery_id)).data)


@extend_schema_view(
    post=extend_schema(
        tags=TAGS,
        operation_id="webhook_deliveries_redeliver",
        parameters=[DELIVERY_ID],
        summary="Send a delivery again",
        description=(
            "A delivered, failed or cancelled delivery is queued again with the same id and body "
            "and a fresh number of attempts."
        ),
        request=None,
        responses={
            202: DeliverySerializer,
            **ERRORS,
            409: OpenApiResponse(
                ERRORS[409].response,
                description=(
                    "Already waiting to be sent, or the subscription is deleted or inactive."
                ),
            ),
        },
    )
)
class DeliveryRedeliver(APIView):
    def post(self, request, delivery_id):
        delivery = services.delivery_redeliver(
            actor=request.user, delivery=_visible_delivery(request.user, delivery_id)
        )
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


urlpatterns = [
    path(
        "webhooks/subscriptions/",
        SubscriptionListCreate.as_view(),
        name="webhook-subscriptions",
    ),
    path(
        "webhooks/subscriptions/<str:pk>/",
        SubscriptionDetail.as_view(),
        name="webhook-subscription",
    ),
    path(
        "webhooks/subscriptions/<str:pk>/ping/",
        SubscriptionPing.as_view(),
        name="webhook-subscription-ping",
    ),
    path("webhooks/deliveries/", DeliveryList.as_view(), name="webhook-deliveries"),
    path(
        "webhooks/deliveries/<str:delivery_id>/",
        DeliveryDetail.as_view(),
        name="webhook-delivery",
    ),
    path(
        "webhooks/deliveries/<str:delivery_id>/redeliver/",
        DeliveryRedeliver.as_view(),
        name="webhook-delivery-redeliver",
    ),
]
