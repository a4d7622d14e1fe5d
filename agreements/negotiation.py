"""Negotiation rounds: invitations, threaded comments, proposals of revised text, decisions.

Business actions, each durable-atomic like agreements.services: lock the agreement, check who may
act, change, audit, notify after commit. The slow part of a proposal (checking and converting the
DOCX) happens before the transaction.
"""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

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
)
from agreements.roles import Role
from agreements.services import (
    StoredDocument,
    _lock,
    audited_refusals,
    create_version,
    prepare_document,
)
from audit.models import AuditAction
from audit.services import record_event
from stipula.errors import PermissionDenied, TransitionNotAllowed, ValidationFailed

MAX_COMMENT_LENGTH = 10_000


def _require_officer(agreement: Agreement, actor) -> None:
    if not policies.is_responsible_legal_officer(agreement, actor):
        raise PermissionDenied(
            _("Only the responsible legal officer of this agreement can manage the negotiation.")
        )


def _require_negotiation(agreement: Agreement) -> None:
    if agreement.state != AgreementState.NEGOTIATION:
        raise TransitionNotAllowed(
            _(
                "The agreement is in state «%(state)s»: negotiation rounds run only while it is "
                "in negotiation."
            )
            % {"state": agreement.get_state_display()},
            state=agreement.state,
        )


def _require_open(round_: NegotiationRound) -> None:
    if not round_.is_open:
        raise TransitionNotAllowed(
            _("Round %(number)d is closed: ask the legal officer to open a new round.")
            % {"number": round_.number}
        )


def _invitation(round_: NegotiationRound, actor) -> Invitation | None:
    if actor is None:
        return None
    return round_.invitations.select_related("party").filter(user=actor).first()


def _event(actor, action, obj, agreement_id, role, payload=None, documents=(), reason=""):
    return record_event(
        actor=actor,
        action=action,
        obj=obj,
        agreement_id=agreement_id,
        role=role,
        payload=payload or {},
        documents=documents,
        reason=reason,
    )


def party_representatives(agreement: Agreement) -> list[tuple[object, AgreementParty]]:
    """Every (user, party) pair of the members of the agreement's parties, in party order."""
    members = OrganisationMember.objects.filter(
        organisation__agreement_parties__agreement=agreement
    ).select_related("user", "organisation")
    parties = {p.organisation_id: p for p in agreement.parties.all()}
    pairs = [(m.user, parties[m.organisation_id]) for m in members]
    return sorted(pairs, key=lambda pair: (pair[1].position, pair[0].pk))


@audited_refusals("negotiation.open_round")
@transaction.atomic(durable=True)
def round_open(
    *,
    actor,
    agreement: Agreement,
    version: AgreementVersion | None = None,
    invitees=None,
    note: str = "",
) -> NegotiationRound:
    """Open a round on a version (the current one by default) and invite representatives.

    ``invitees`` defaults to every member of every party; each must act for a party.
    """
    locked = _lock(agreement)
    _require_officer(locked, actor)
    _require_negotiation(locked)
    if locked.rounds.filter(closed_at__isnull=True).exists():
        raise ValidationFailed(_("A round is already open: close it before opening another."))
    version = version or locked.current_version
    if version is None or version.agreement_id != locked.pk:
        raise ValidationFailed(_("Choose a version of this agreement to negotiate on."))
    representatives = party_representatives(locked)
    if invitees is not None:
        wanted = {user.pk for user in invitees}
        unknown = wanted - {user.pk for user, _party in representatives}
        if unknown:
            raise ValidationFailed(
                _("Only people who act for a party of this agreement can be invited.")
            )
        representatives = [(u, p) for u, p in representatives if u.pk in wanted]
    if not representatives:
        raise ValidationFailed(
            _(
                "Nobody to invite: add the parties' representatives as members of their "
                "organisation."
            )
        )
    last = locked.rounds.order_by("-number").first()
    round_ = NegotiationRound.objects.create(
        agreement=locked,
        number=(last.number + 1) if last else 1,
        version=version,
        note=note.strip(),
        opened_by=actor,
    )
    Invitation.objects.bulk_create(
        [Invitation(round=round_, user=user, party=party) for user, party in representatives]
    )
    _event(
        actor,
        AuditAction.ROUND_OPENED,
        round_,
        locked.pk,
        Role.LEGAL_OFFICER.value,
        payload={
            "round": round_.number,
            "version": version.number,
            "invited": [
                {"user": user.get_username(), "party": party.organisation.name}
                for user, party in representatives
            ],
        },
        documents=version.documents(),
    )
    return round_


@audited_refusals("negotiation.close_round")
@transaction.atomic(durable=True)
def round_close(*, actor, negotiation_round: NegotiationRound) -> NegotiationRound:
    locked = _lock(negotiation_round.agreement)
    _require_officer(locked, actor)
    round_ = NegotiationRound.objects.select_for_update().get(pk=negotiation_round.pk)
    _require_open(round_)
    pending = round_.proposals.filter(status=ProposalStatus.PENDING).count()
    if pending:
        raise ValidationFailed(
            _("Decide on the %(n)d pending proposals before closing the round.") % {"n": pending}
        )
    NegotiationRound.objects.filter(pk=round_.pk).update(closed_at=timezone.now())
    round_.refresh_from_db()
    _event(
        actor,
        AuditAction.ROUND_CLOSED,
        round_,
        locked.pk,
        Role.LEGAL_OFFICER.value,
        payload={"round": round_.number},
        documents=round_.version.documents(),
    )
    return round_


@audited_refusals("negotiation.comment")
@transaction.atomic(durable=True)
def comment_add(
    *,
    actor,
    negotiation_round: NegotiationRound,
    text: str,
    anchor: str = "",
    parent: Comment | None = None,
) -> Comment:
    """An invited representative or the legal officer comments, optionally replying."""
    locked = _lock(negotiation_round.agreement)
    round_ = NegotiationRound.objects.get(pk=negotiation_round.pk)
    invitation = _invitation(round_, actor)
    officer = policies.is_responsible_legal_officer(locked, actor)
    if invitation is None and not officer:
        raise PermissionDenied(_("Only people invited to this round can comment on it."))
    _require_negotiation(locked)
    _require_open(round_)
    text = text.strip()
    if not text:
        raise ValidationFailed(_("Write the comment before sending it."))
    if len(text) > MAX_COMMENT_LENGTH:
        raise ValidationFailed(
            _("The comment is too long (%(n)d characters; at most %(max)d).")
            % {"n": len(text), "max": MAX_COMMENT_LENGTH}
        )
    if parent is not None and parent.round_id != round_.pk:
        raise ValidationFailed(_("You can reply only to a comment of the same round."))
    comment = Comment.objects.create(
        round=round_, author=actor, parent=parent, anchor=anchor.strip()[:120], text=text
    )
    _event(
        actor,
        AuditAction.COMMENT_ADDED,
        comment,
        locked.pk,
        Role.LEGAL_OFFICER.value if officer else "party_representative",
        payload={
            "round": round_.number,
            "party": invitation.party.organisation.name if invitation else None,
            "reply_to": parent.pk if parent else None,
            "anchor": comment.anchor,
            "text": text,
        },
        documents=round_.version.documents(),
    )
    return comment


@audited_refusals("negotiation.propose")
def proposal_submit(
    *,
    actor,
    negotiation_round: NegotiationRound,
    docx: bytes,
    note: str = "",
) -> Proposal:
    """An invited representative proposes a revised DOCX (their party's markup)."""
    invitation = _invitation(negotiation_round, actor)
    if invitation is None:
        raise PermissionDenied(_("Only people invited to this round can propose a revised text."))
    _require_open(negotiation_round)
    document = prepare_document(docx)
    with transaction.atomic(durable=True):
        locked = _lock(negotiation_round.agreement)
        round_ = NegotiationRound.objects.get(pk=negotiation_round.pk)
        _require_negotiation(locked)
        _require_open(round_)
        proposal = Proposal.objects.create(
            round=round_,
            author=actor,
            party=invitation.party,
            docx=document.docx_name,
            docx_sha256=document.docx_sha256,
            pdf=document.pdf_name,
            pdf_sha256=document.pdf_sha256,
            note=note.strip(),
        )
        _event(
            actor,
            AuditAction.PROPOSAL_SUBMITTED,
            proposal,
            locked.pk,
            "party_representative",
            payload={
                "round": round_.number,
                "party": invitation.party.organisation.name,
                "base_version": round_.version.number,
                "note": proposal.note,
            },
            documents=[*round_.version.documents(), *proposal.documents()],
        )
    return proposal


def _decide(actor, proposal: Proposal, note: str) -> tuple[Agreement, Proposal]:
    locked = _lock(proposal.round.agreement)
    _require_officer(locked, actor)
    _require_negotiation(locked)
    current = Proposal.objects.select_for_update().get(pk=proposal.pk)
    if current.status != ProposalStatus.PENDING:
        raise TransitionNotAllowed(
            _("This proposal was already decided: %(status)s.")
            % {"status": current.get_status_display()}
        )
    return locked, current


@audited_refusals("negotiation.accept_proposal")
@transaction.atomic(durable=True)
def proposal_accept(*, actor, proposal: Proposal, note: str = "") -> AgreementVersion:
    """Accepting a proposal makes its text the new current version."""
    agreement, current = _decide(actor, proposal, note)
    document_fields = {
        "docx_name": current.docx.name,
        "docx_sha256": current.docx_sha256,
        "pdf_name": current.pdf.name,
        "pdf_sha256": current.pdf_sha256,
    }
    version = create_version(
        actor=actor,
        agreement=agreement,
        document=StoredDocument(**document_fields),
        source=AgreementVersion.Source.PROPOSAL,
        parent=current.round.version,
        note=note or _("Proposal of %(party)s") % {"party": current.party.organisation.name},
    )
    current.accept(by=actor, note=note.strip(), version=version)
    current.save()
    _event(
        actor,
        AuditAction.PROPOSAL_ACCEPTED,
        current,
        agreement.pk,
        Role.LEGAL_OFFICER.value,
        payload={
            "round": current.round.number,
            "party": current.party.organisation.name,
            "new_version": version.number,
            "parent_version": version.parent.number if version.parent_id else None,
        },
        documents=version.documents(),
        reason=note.strip(),
    )
    return version


@audited_refusals("negotiation.reject_proposal")
@transaction.atomic(durable=True)
def proposal_reject(*, actor, proposal: Proposal, note: str) -> Proposal:
    if not note.strip():
        raise ValidationFailed(_("Say why the proposal is rejected: the party will read it."))
    agreement, current = _decide(actor, proposal, note)
    current.reject(by=actor, note=note.strip())
    current.save()
    _event(
        actor,
        AuditAction.PROPOSAL_REJECTED,
        current,
        agreement.pk,
        Role.LEGAL_OFFICER.value,
        payload={"round": current.round.number, "party": current.party.organisation.name},
        documents=current.documents(),
        reason=note.strip(),
    )
    return current
