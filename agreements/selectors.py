"""Reading agreements for the web pages: who may see which, and what each user may do next.

The querysets here are the set-at-a-time form of the per-object rules in ``policies``; the two
must agree, and the UI tests check that they do from the user's side.
"""

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from agreements import policies
from agreements.models import (
    Agreement,
    AgreementParty,
    AgreementState,
    AgreementVersion,
    OrganisationMember,
    Signatory,
)
from agreements.roles import Role, user_roles
from agreements.services import TRANSITION_SERVICES
from agreements.transitions import TRANSITIONS, TransitionInfo
from audit.models import AuditEvent

S = AgreementState

_STAFF_ROLE_VALUES = frozenset(role.value for role in policies.STAFF_ROLES)


def visible_agreements(user) -> QuerySet[Agreement]:
    """Every agreement ``policies.can_view`` lets this user see."""
    if user is None or not user.is_authenticated:
        return Agreement.objects.none()
    if user_roles(user) & _STAFF_ROLE_VALUES:
        return Agreement.objects.all()
    acts_for_a_party = OrganisationMember.objects.filter(
        user_id=user.pk, organisation__agreement_parties__agreement=OuterRef("pk")
    )
    signs = Signatory.objects.filter(user_id=user.pk, party__agreement=OuterRef("pk"))
    return Agreement.objects.filter(Exists(acts_for_a_party) | Exists(signs))


def _parties_with_organisation() -> Prefetch:
    return Prefetch(
        "parties",
        queryset=AgreementParty.objects.select_related("organisation").order_by("position"),
    )


def _for_listing(agreements: QuerySet[Agreement]) -> QuerySet[Agreement]:
    """A fixed number of queries per page however many agreements and parties there are."""
    return (
        agreements.select_related("legal_officer")
        .prefetch_related(_parties_with_organisation())
        .order_by("-created_at", "-pk")
    )


def agreement_list_for(user, *, state: str | None = None) -> QuerySet[Agreement]:
    agreements = visible_agreements(user)
    if state:
        agreements = agreements.filter(state=state)
    return _for_listing(agreements)


def agreements_of_officer(user) -> QuerySet[Agreement]:
    """The agreements this legal officer is responsible for."""
    return _for_listing(visible_agreements(user).filter(legal_officer_id=user.pk))


def agreements_to_review(user) -> QuerySet[Agreement]:
    """Agreements in legal review that this reviewer did not draft (four-eyes principle)."""
    if Role.REVIEWER.value not in user_roles(user):
        return Agreement.objects.none()
    authored = AgreementVersion.objects.filter(agreement=OuterRef("pk"), author_id=user.pk)
    return _for_listing(
        visible_agreements(user)
        .filter(state=S.LEGAL_REVIEW)
        .exclude(legal_officer_id=user.pk)
        .exclude(Exists(authored))
    )


def agreements_signed_by(user) -> QuerySet[Agreement]:
    """Agreements where this user is one of the signatories."""
    signs = Signatory.objects.filter(user_id=user.pk, party__agreement=OuterRef("pk"))
    return _for_listing(visible_agreements(user).filter(Exists(signs)))


def agreement_for_detail(user, pk: int) -> Agreement:
    """The agreement with everything its page shows; Agreement.DoesNotExist if not visible."""
    return (
        visible_agreements(user)
        .select_related("legal_officer", "current_version", "approved_version")
        .prefetch_related(
            Prefetch(
                "parties",
                queryset=AgreementParty.objects.select_related("organisation")
                .prefetch_related(
                    Prefetch(
                        "signatories",
                        queryset=Signatory.objects.select_related("user").order_by("position"),
                    )
                )
                .order_by("position"),
            ),
            Prefetch(
                "versions",
                queryset=AgreementVersion.objects.select_related("author").order_by("-number"),
            ),
        )
        .get(pk=pk)
    )


def agreement_events(agreement: Agreement) -> QuerySet[AuditEvent]:
    """The agreement's own audit trail, in the order it was written."""
    return AuditEvent.objects.filter(agreement_id=agreement.pk).order_by("seq")


def visible_version(user, *, agreement_pk: int, number: int) -> AgreementVersion | None:
    """A version of the text, only for users who may see its agreement."""
    return (
        AgreementVersion.objects.filter(
            agreement__in=visible_agreements(user), agreement_id=agreement_pk, number=number
        )
        .select_related("agreement")
        .first()
    )


def audit_log_events(
    *, agreement_id: int | None = None, action: str | None = None
) -> QuerySet[AuditEvent]:
    """The whole audit log, newest first, for the readers of the audit log."""
    events = AuditEvent.objects.order_by("-seq")
    if agreement_id is not None:
        events = events.filter(agreement_id=agreement_id)
    if action:
        events = events.filter(action=action)
    return events


@dataclass(frozen=True)
class AvailableAction:
    """A transition this user may fire from the agreement's current state.

    ``blockers`` lists what is still missing (the guards' explanations); the action can be taken
    only when it is empty.
    """

    info: TransitionInfo
    blockers: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def enabled(self) -> bool:
        return not self.blockers


def available_actions(agreement: Agreement, user) -> list[AvailableAction]:
    """The transitions to offer this user, in lifecycle order.

    A transition is offered when it leaves the current state, the user holds its permission, and
    a service exists to fire it. One whose guards fail is still offered, disabled, with what is
    missing, so the user learns what to do instead of wondering where the button went.
    """
    actions = []
    for name, info in TRANSITIONS.items():
        if name not in TRANSITION_SERVICES:
            continue
        transition = getattr(Agreement, name)._django_fsm.get_transition(agreement.state)
        if transition is None or not transition.has_perm(agreement, user):
            continue
        blockers = [
            str(condition.explain(agreement))
            for condition in transition.conditions
            if not condition(agreement)
        ]
        actions.append(AvailableAction(info=info, blockers=blockers))
    return actions
