"""What each lifecycle transition is called, which audit action it writes, who may fire it."""

from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from agreements.roles import Role
from audit.models import AuditAction


@dataclass(frozen=True)
class TransitionInfo:
    name: str
    label: Promise
    action: AuditAction
    role: Role
    who: Promise
    needs_reason: bool = False
    style: str = ""


TRANSITIONS = {
    t.name: t
    for t in [
        TransitionInfo(
            "open_negotiation",
            _("Open negotiation"),
            AuditAction.NEGOTIATION_OPENED,
            Role.LEGAL_OFFICER,
            _("Only the responsible legal officer of this agreement can open the negotiation."),
        ),
        TransitionInfo(
            "submit_for_review",
            _("Submit for legal review"),
            AuditAction.SUBMITTED_FOR_REVIEW,
            Role.LEGAL_OFFICER,
            _("Only the responsible legal officer of this agreement can submit it for review."),
        ),
        TransitionInfo(
            "request_changes",
            _("Request changes"),
            AuditAction.CHANGES_REQUESTED,
            Role.REVIEWER,
            _(
                "Only a reviewer who did not draft this agreement can request changes "
                "(four-eyes principle)."
            ),
            needs_reason=True,
        ),
        TransitionInfo(
            "approve",
            _("Approve"),
            AuditAction.APPROVED,
            Role.REVIEWER,
            _(
                "Only a reviewer who did not draft this agreement can approve it "
                "(four-eyes principle)."
            ),
        ),
        TransitionInfo(
            "reject",
            _("Reject"),
            AuditAction.REJECTED,
            Role.REVIEWER,
            _(
                "Only a reviewer who did not draft this agreement can reject it "
                "(four-eyes principle)."
            ),
            needs_reason=True,
            style="danger",
        ),
        TransitionInfo(
            "withdraw",
            _("Withdraw"),
            AuditAction.WITHDRAWN,
            Role.LEGAL_OFFICER,
            _("Only the responsible legal officer or an administrator can withdraw an agreement."),
            needs_reason=True,
            style="danger",
        ),
        TransitionInfo(
            "complete_signing",
            _("Complete signing"),
            AuditAction.SIGNING_COMPLETED,
            Role.LEGAL_OFFICER,
            _("Only the responsible legal officer can close the signing phase."),
        ),
        TransitionInfo(
            "register",
            _("Register"),
            AuditAction.REGISTERED,
            Role.REGISTRAR,
            _("Only a registrar can register an agreement."),
        ),
        TransitionInfo(
            "annul",
            _("Annul"),
            AuditAction.ANNULLED,
            Role.REGISTRAR,
            _("Only a registrar can annul a registered agreement."),
            needs_reason=True,
            style="danger",
        ),
    ]
}
