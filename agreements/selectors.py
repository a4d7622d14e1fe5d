"""Reading agreements for the web pages: who may see which, and what each user may do next.

The querysets here are the set-at-a-time form of the per-object rules in ``policies``; the two
must agree, and the UI tests check that they do from the user's side.
"""

from dataclasses import dataclass, field

from django.db.models import Count, Exists, F, OuterRef, Prefetch, Q, QuerySet

from agreements import policies
from agreements.models import (
    Agreement,
    AgreementParty,
    AgreementState,
    AgreementVersion,
    Comment,
    Invitation,
    NegotiationRound,
    OrganisationMember,
    Proposal,
    ProposalStatus,
    Signatory,
)
from agreements.roles import ROLE_LABELS, Role, user_roles
from agreements.services import TRANSITION_SERVICES
from agreements.transitions import TRANSITIONS, TransitionInfo
from audit.models import AuditAction, AuditEvent

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
    """The agreement with everything its page shows; Agreement.DoesNotExist if not visible.

    Its ``versions`` are only those this user may read (see ``visible_versions``), newest first.
    """
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
            Prefetch("versions", queryset=_for_version_listing(_readable_versions(user))),
        )
        .get(pk=pk)
    )


def agreement_events(agreement: Agreement) -> QuerySet[AuditEvent]:
    """The agreement's own audit trail, in the order it was written."""
    return AuditEvent.objects.filter(agreement_id=agreement.pk).order_by("seq")


def is_office_staff(user) -> bool:
    """Whether the user works on agreements in an office role (and so sees all of them)."""
    return bool(user_roles(user) & _STAFF_ROLE_VALUES)


def _readable_versions(user) -> QuerySet[AgreementVersion]:
    """The rule of ``visible_versions``, without the visibility of the agreement itself."""
    versions = AgreementVersion.objects.all()
    if user is None or not user.is_authenticated:
        return versions.none()
    if is_office_staff(user):
        return versions
    invited = Invitation.objects.filter(user_id=user.pk, round__version_id=OuterRef("pk"))
    return versions.filter(Exists(invited) | Q(agreement__approved_version_id=F("pk")))


def visible_versions(user, agreement: Agreement | None = None) -> QuerySet[AgreementVersion]:
    """The versions of the text this user may read (of one agreement, if given).

    Office staff read every version of the agreements they see. A party's representative reads
    only the versions they were invited to negotiate in a round, and the approved text: drafts
    in between are the offices' work in progress. Every page and download of a version goes
    through this rule.
    """
    versions = _readable_versions(user).filter(agreement__in=visible_agreements(user))
    if agreement is not None:
        versions = versions.filter(agreement_id=agreement.pk)
    return versions


def _for_version_listing(versions: QuerySet[AgreementVersion]) -> QuerySet[AgreementVersion]:
    return versions.select_related("author", "parent", "template_version__template").order_by(
        "-number"
    )


def version_list_for(user, agreement: Agreement) -> QuerySet[AgreementVersion]:
    """The versions this user may read, newest first, with what the version table shows."""
    return _for_version_listing(visible_versions(user, agreement))


def visible_version(user, *, agreement_pk: int, number: int) -> AgreementVersion | None:
    """A version of the text, only for users who may read it (see ``visible_versions``)."""
    return (
        visible_versions(user)
        .filter(agreement_id=agreement_pk, number=number)
        .select_related("agreement", "author", "parent", "template_version__template")
        .first()
    )


def latest_rendered_version(agreement: Agreement, template_id: int) -> AgreementVersion | None:
    """The newest version of this agreement rendered from any version of the template, whose
    ``data`` pre-fills the drafting form."""
    return (
        agreement.versions.filter(template_version__template_id=template_id)
        .select_related("template_version")
        .order_by("-number")
        .first()
    )


# Negotiation ---------------------------------------------------------------------------------


def visible_rounds(user, agreement: Agreement | None = None) -> QuerySet[NegotiationRound]:
    """The negotiation rounds this user may follow: all of them for office staff, the rounds
    they are invited to for a party's representative."""
    rounds = NegotiationRound.objects.filter(agreement__in=visible_agreements(user))
    if agreement is not None:
        rounds = rounds.filter(agreement_id=agreement.pk)
    if not is_office_staff(user):
        invited = Invitation.objects.filter(round_id=OuterRef("pk"), user_id=user.pk)
        rounds = rounds.filter(Exists(invited))
    return rounds


def round_list_for(user, agreement: Agreement) -> QuerySet[NegotiationRound]:
    """The rounds of an agreement this user may follow, newest first, with their counts."""
    return (
        visible_rounds(user, agreement)
        .select_related("version")
        .annotate(
            invited_count=Count("invitations", distinct=True),
            pending_count=Count(
                "proposals", filter=Q(proposals__status=ProposalStatus.PENDING), distinct=True
            ),
        )
        .order_by("-number")
    )


def round_for_page(user, *, agreement_pk: int, number: int) -> NegotiationRound | None:
    """One round with everything its page shows, or None if the user may not follow it."""
    return (
        visible_rounds(user)
        .filter(agreement_id=agreement_pk, number=number)
        .select_related("agreement__legal_officer", "version__author", "opened_by")
        .prefetch_related(
            Prefetch(
                "invitations",
                queryset=Invitation.objects.select_related("user", "party__organisation").order_by(
                    "party__position", "user__last_name", "user__first_name", "user_id"
                ),
            )
        )
        .first()
    )


def round_comments(negotiation_round: NegotiationRound) -> list[tuple[Comment, int]]:
    """The comments of a round as a thread: each with its depth, replies under what they answer,
    in the order they were written."""
    comments = list(
        negotiation_round.comments.select_related("author").order_by("created_at", "pk")
    )
    replies: dict[int | None, list[Comment]] = {}
    for comment in comments:
        replies.setdefault(comment.parent_id, []).append(comment)
    thread: list[tuple[Comment, int]] = []
    # Iterative, so that a long chain of replies cannot exhaust the stack.
    stack = [(comment, 0) for comment in reversed(replies.get(None, []))]
    while stack:
        comment, depth = stack.pop()
        thread.append((comment, depth))
        stack.extend((reply, depth + 1) for reply in reversed(replies.get(comment.pk, [])))
    return thread


def round_comment(negotiation_round: NegotiationRound, pk: int) -> Comment | None:
    """A comment of this round (to reply to), or None."""
    return negotiation_round.comments.filter(pk=pk).first()


def round_proposals(negotiation_round: NegotiationRound) -> QuerySet[Proposal]:
    return negotiation_round.proposals.select_related(
        "author", "party__organisation", "decided_by", "resulting_version"
    ).order_by("created_at", "pk")


def visible_proposal(user, *, agreement_pk: int, proposal_pk: int) -> Proposal | None:
    """A proposal, for those who may follow its round."""
    return (
        Proposal.objects.filter(
            pk=proposal_pk,
            round__agreement_id=agreement_pk,
            round__in=visible_rounds(user),
        )
        .select_related("round__version", "round__agreement", "party__organisation")
        .first()
    )


def invited_open_rounds(user) -> QuerySet[NegotiationRound]:
    """The open rounds this user is invited to, on agreements still in negotiation."""
    if user is None or not user.is_authenticated:
        return NegotiationRound.objects.none()
    return (
        NegotiationRound.objects.filter(
            invitations__user_id=user.pk,
            closed_at__isnull=True,
            agreement__state=S.NEGOTIATION,
        )
        .select_related("agreement", "version")
        .order_by("-opened_at", "-pk")
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


@dataclass(frozen=True)
class TimelineEntry:
    event: AuditEvent
    role_label: str
    detail: str


def timeline(events: list[AuditEvent]) -> list[TimelineEntry]:
    """The audit events as the timelines show them: who, in which role, and why a refusal."""
    entries = []
    for event in events:
        detail = ""
        if event.action == AuditAction.ACTION_REFUSED:
            detail = event.payload_data.get("message", "")
        entries.append(
            TimelineEntry(event, str(ROLE_LABELS.get(event.actor_role, event.actor_role)), detail)
        )
    return entries
