import json

from django.db import models
from django.utils.translation import gettext_lazy as _

from audit.chain import GENESIS_HASH


class AuditAction(models.TextChoices):
    """Audit action codes. Stored values never change once released."""

    AGREEMENT_CREATED = "agreement.created", _("Agreement created")
    AGREEMENT_UPDATED = "agreement.updated", _("Agreement data changed")
    PARTY_ADDED = "agreement.party_added", _("Party added")
    SIGNATORY_ADDED = "agreement.signatory_added", _("Signatory added")
    VERSION_CREATED = "agreement.version_created", _("Draft version created")
    NEGOTIATION_OPENED = "agreement.negotiation_opened", _("Negotiation opened")
    SUBMITTED_FOR_REVIEW = "agreement.submitted_for_review", _("Submitted for legal review")
    CHANGES_REQUESTED = "agreement.changes_requested", _("Changes requested")
    APPROVED = "agreement.approved", _("Approved")
    REJECTED = "agreement.rejected", _("Rejected")
    WITHDRAWN = "agreement.withdrawn", _("Withdrawn")
    SIGNING_COMPLETED = "agreement.signing_completed", _("Signing completed")
    REGISTERED = "agreement.registered", _("Registered")
    ANNULLED = "agreement.annulled", _("Annulled")
    VERSION_RENDERED = "agreement.version_rendered", _("Draft version rendered from a template")
    ROUND_OPENED = "negotiation.round_opened", _("Negotiation round opened")
    ROUND_CLOSED = "negotiation.round_closed", _("Negotiation round closed")
    COMMENT_ADDED = "negotiation.comment_added", _("Comment added")
    PROPOSAL_SUBMITTED = "negotiation.proposal_submitted", _("Revised text proposed")
    PROPOSAL_ACCEPTED = "negotiation.proposal_accepted", _("Proposal accepted")
    PROPOSAL_REJECTED = "negotiation.proposal_rejected", _("Proposal rejected")
    TEMPLATE_UPLOADED = "template.uploaded", _("Template uploaded")
    ORGANISATION_CREATED = "organisation.created", _("Organisation created")
    MEMBER_ADDED = "organisation.member_added", _("Organisation member added")
    ACTION_REFUSED = "action.refused", _("Action refused")
    # Plain labels until the Italian catalogue (locale/) has them: see signing/errors.py.
    SIGNING_PREPARED = "signing.prepared", _("Document prepared for signing")
    SIGNATURE_APPLIED = "signing.signature_applied", _("Signature applied")
    SIGNATURE_REVALIDATED = "signing.signature_revalidated", _("Signature validated again")
    SIGNING_ARCHIVED = "signing.archived", _("Document timestamp added (PAdES B-LTA)")
    PROCESS_STARTED = "workflow.process_started", _("Process started")
    PROCESS_FINISHED = "workflow.process_finished", _("Process finished")
    PROCESS_CANCELLED = "workflow.process_cancelled", _("Process cancelled")
    TASK_CREATED = "workflow.task_created", _("Task created")
    TASK_ASSIGNED = "workflow.task_assigned", _("Task assigned")
    TASK_DELEGATED = "workflow.task_delegated", _("Signature delegated")
    TASK_COMPLETED = "workflow.task_completed", _("Task completed")
    TASK_CANCELLED = "workflow.task_cancelled", _("Task cancelled")
    TASK_REMINDED = "workflow.task_reminded", _("Task reminder sent")
    TASK_ESCALATED = "workflow.task_escalated", _("Overdue task escalated")
    REVIEWER_NAMED = "workflow.reviewer_named", _("Reviewer named")
    REVIEWER_REMOVED = "workflow.reviewer_removed", _("Reviewer removed")
    REVIEW_SUBMITTED = "workflow.review_submitted", _("Legal review submitted")
    SIGNING_ORDER_SET = "workflow.signing_order_set", _("Signing order set")
    SIGNING_DECLINED = "workflow.signing_declined", _("Signature declined")
    SIGNING_RESUMED = "workflow.signing_resumed", _("Signing resumed")
    # For the transition signature -> negotiation asked of agreements/ (workflow/README.md).
    DECLINED_TO_SIGN = "agreement.declined_to_sign", _("Back to negotiation: signature declined")


class AuditEvent(models.Model):
    """One entry of the append-only, hash-chained audit log (RULES.md A1-A3, A5).

    Rows are written only by ``audit.services.record_event`` inside the transaction of the change
    they describe; the database refuses UPDATE, DELETE and TRUNCATE on this table.
    """

    seq = models.BigIntegerField(primary_key=True, verbose_name=_("sequence number"))
    created_at = models.DateTimeField(verbose_name=_("time"))
    actor_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("actor id"))
    actor_username = models.CharField(max_length=150, blank=True, verbose_name=_("actor"))
    actor_role = models.CharField(max_length=32, blank=True, verbose_name=_("actor role"))
    action = models.CharField(max_length=64, choices=AuditAction, verbose_name=_("action"))
    object_type = models.CharField(max_length=64, verbose_name=_("object type"))
    object_id = models.CharField(max_length=64, blank=True, verbose_name=_("object id"))
    agreement_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, verbose_name=_("agreement")
    )
    # Canonical JSON text (audit.chain.canonical_json), hashed exactly as stored.
    payload = models.TextField(default="{}", verbose_name=_("details"))
    documents = models.TextField(default="[]", verbose_name=_("document hashes"))
    reason = models.TextField(blank=True, verbose_name=_("reason"))
    request_id = models.CharField(max_length=64, blank=True, verbose_name=_("request id"))
    prev_hash = models.CharField(max_length=64, verbose_name=_("previous hash"))
    hash = models.CharField(max_length=64, unique=True, verbose_name=_("hash"))

    class Meta:
        ordering = ["seq"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [models.Index(fields=["action", "created_at"])]

    def __str__(self):
        return f"#{self.seq} {self.action}"

    @property
    def payload_data(self) -> dict:
        return json.loads(self.payload)

    @property
    def document_list(self) -> list:
        return json.loads(self.documents)


class AuditChainHead(models.Model):
    """The latest seq and hash, one row, locked by every writer so the chain never forks."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS_HASH)

    class Meta:
        verbose_name = _("audit chain head")

    def __str__(self):
        return f"#{self.seq} {self.hash}"
