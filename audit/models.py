import json

from django.conf import settings
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
    # Registration (registry/, RULES.md P1-P10).
    REGISTER_CREATED = "registry.register_created", _("Register created")
    REGISTRATION_CHANGED = (
        "registry.registration_changed",
        _("Registration classification or assignment changed"),
    )
    DAILY_REGISTER_PRODUCED = "registry.daily_register_produced", _("Daily register produced")
    # Auditors (RULES.md A4, V1): checkpoints, and what auditors view and export.
    CHECKPOINT_MADE = "audit.checkpoint_made", _("Audit checkpoint made")
    AUDIT_VIEWED = "audit.viewed", _("Audit log viewed")
    AUDIT_EXPORTED = "audit.exported", _("Audit log exported")
    AUDIT_BUNDLE_EXPORTED = "audit.bundle_exported", _("Audit bundle exported")
    PROCEDURE_REPORT_VIEWED = "audit.procedure_report", _("Procedure verification report produced")
    # Webhooks (webhooks/): which systems hear of the agreements, and when they were asked to.
    WEBHOOK_SUBSCRIBED = "webhook.subscribed", _("Webhook subscription created")
    WEBHOOK_UNSUBSCRIBED = "webhook.unsubscribed", _("Webhook subscription deleted")
    WEBHOOK_PINGED = "webhook.pinged", _("Webhook test delivery queued")
    WEBHOOK_REDELIVERED = "webhook.redelivered", _("Webhook delivery sent again")


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


class Checkpoint(models.Model):
    """A signed tree head (RULES.md A4): the Merkle root over the first ``tree_size`` events,
    signed with the system seal and timestamped by the RFC 3161 server.

    ``tree_head`` holds the exact bytes that were signed (canonical JSON, see
    audit.checkpoints.tree_head_bytes); the other columns repeat what it says for queries. The
    timestamp token covers SHA-256(tree_head || signature). Written only by
    ``audit.checkpoints.checkpoint_make``; the database refuses UPDATE, DELETE and TRUNCATE.
    """

    number = models.BigIntegerField(primary_key=True, verbose_name=_("number"))
    tree_size = models.BigIntegerField(verbose_name=_("tree size"))
    root_hash = models.CharField(max_length=64, verbose_name=_("Merkle root"))
    # The chain hash of event ``tree_size``: ties the tree to the hash chain (A2).
    head_hash = models.CharField(max_length=64, verbose_name=_("chain head hash"))
    created_at = models.DateTimeField(verbose_name=_("time"))
    tree_head = models.BinaryField(verbose_name=_("signed tree head"))
    signature = models.BinaryField(verbose_name=_("signature"))
    signature_algorithm = models.CharField(max_length=32, verbose_name=_("signature algorithm"))
    seal_certificate = models.BinaryField(verbose_name=_("seal certificate (DER)"))
    # The seal's CA certificates from its PKCS#12 file, DER one after the other (may be empty).
    seal_chain = models.BinaryField(default=b"", blank=True, verbose_name=_("seal chain (DER)"))
    tsa_url = models.CharField(max_length=500, blank=True, verbose_name=_("timestamp server"))
    timestamp_token = models.BinaryField(
        default=b"", blank=True, verbose_name=_("RFC 3161 timestamp token")
    )
    timestamp_time = models.DateTimeField(null=True, blank=True, verbose_name=_("timestamp"))
    # Why there is no token: no TSA configured, or the TSA's error.
    timestamp_error = models.TextField(blank=True, verbose_name=_("timestamp problem"))
    reason = models.CharField(max_length=200, blank=True, verbose_name=_("reason"))

    class Meta:
        ordering = ["number"]
        verbose_name = _("audit checkpoint")
        verbose_name_plural = _("audit checkpoints")

    def __str__(self):
        return f"#{self.number} size {self.tree_size} root {self.root_hash}"

    @property
    def timestamped(self) -> bool:
        return bool(self.timestamp_token)


class AuditTreeTile(models.Model):
    """Stored hashes of the Merkle tree, so that proofs need no walk over the log (audit.tree).

    A tile of level L and index i holds up to 256 hashes, 32 bytes each: the roots of the
    consecutive subtrees of 2^(8L) events from subtree 256 * i on (level 0 holds leaf hashes).
    A tile of ``width`` 256 is complete; a narrower one is a partial tile at the growing edge of
    the tree, written when a checkpoint is made. Either never changes once written (a wider
    tile for the same place is a new row): append-only, like the log it summarises (the layout
    of Go's transparency-log tiles, partial tiles included).
    """

    level = models.PositiveSmallIntegerField(verbose_name=_("level"))
    index = models.BigIntegerField(verbose_name=_("index"))
    width = models.PositiveSmallIntegerField(verbose_name=_("number of hashes"))
    hashes = models.BinaryField(verbose_name=_("hashes"))

    class Meta:
        verbose_name = _("Merkle tree tile")
        verbose_name_plural = _("Merkle tree tiles")
        constraints = [
            models.UniqueConstraint(
                fields=["level", "index", "width"], name="audit_tile_level_index_width"
            )
        ]

    def __str__(self):
        return f"tile {self.level}/{self.index} ({self.width})"


class ExportJob(models.Model):
    """An export of the audit log asked for in the auditor's workspace, made by a background job
    (audit.jobs) while the auditor watches its progress; the file is kept for download."""

    class Format(models.TextChoices):
        CSV = "csv", _("CSV")
        JSONL = "jsonl", _("JSON Lines")
        PDF = "pdf", _("PDF report")
        BUNDLE = "bundle", _("Audit bundle (ZIP, verifiable offline)")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting to start")
        RUNNING = "running", _("Running")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("requested by"),
    )
    requested_at = models.DateTimeField(auto_now_add=True, verbose_name=_("requested"))
    format = models.CharField(max_length=8, choices=Format, verbose_name=_("format"))
    filters = models.JSONField(default=dict, blank=True, verbose_name=_("selection"))
    until_seq = models.BigIntegerField(verbose_name=_("last event of the log when asked"))
    status = models.CharField(
        max_length=16, choices=Status, default=Status.PENDING, verbose_name=_("status")
    )
    total = models.BigIntegerField(null=True, blank=True, verbose_name=_("events to export"))
    done = models.BigIntegerField(default=0, verbose_name=_("events exported"))
    file = models.CharField(max_length=255, blank=True, verbose_name=_("file"))
    sha256 = models.CharField(max_length=64, blank=True, verbose_name=_("SHA-256 of the file"))
    size = models.BigIntegerField(null=True, blank=True, verbose_name=_("size in bytes"))
    error = models.TextField(blank=True, verbose_name=_("problem"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished"))

    class Meta:
        ordering = ["-requested_at", "-pk"]
        verbose_name = _("audit export")
        verbose_name_plural = _("audit exports")

    def __str__(self):
        return f"{self.get_format_display()} #{self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, int(self.done * 100 / self.total))
