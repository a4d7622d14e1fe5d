"""The auditor's workspace through the API: the log searched and filtered, the chain's status,
checkpoints and their proofs, procedure verification reports, audit bundles and exports.

Auditors and administrators only (``audit.auditor.can_audit``, as the web workspace). Like
audit.views, every read of the log, of a report, every bundle and export is recorded through the
services of audit.auditor; an attempt by anyone else is refused (403) and recorded as a refused
action. An export's progress is not recorded: it shows nothing of the log.
"""

import base64
import tempfile

from django.http import FileResponse, Http404
from django.urls import path, reverse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from agreements.models import Agreement
from api.common import (
    AGREEMENT_ID,
    ERRORS,
    LIST_ERRORS,
    READ_ERRORS,
    PdfRenderer,
    file_responses,
    json_errors,
    path_id,
)
from api.pagination import Pagination
from api.serializers_records import (
    PAGE_PARAMETERS,
    CsvRenderer,
    NdjsonRenderer,
    ZipRenderer,
    id_field,
    paged,
)
from audit import auditor, checkpoints, jobs
from audit.forms import AuditFilterForm, PeriodForm
from audit.models import AuditAction, AuditEvent, Checkpoint, ExportJob
from audit.procedure import CHECK_CODES, Status

TAG = "audit"
EXPORT_ID = path_id("id", "Id of the export.")
SEQ = path_id("seq", "Sequence number of the event.")
NUMBER = path_id("number", "Number of the checkpoint.")
PDF = "application/pdf"
ZIP = "application/zip"
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "pdf": PDF,
    "bundle": ZIP,
}
READ = LIST_ERRORS


def _gate(user, what: str) -> None:
    """Auditors and administrators pass; anyone else is refused, and the refusal recorded."""
    if not auditor.can_audit(user):
        auditor.log_viewed(actor=user, what=what)


def _b64(value) -> str:
    return base64.b64encode(bytes(value or b"")).decode("ascii")


def _form_errors(form) -> serializers.ValidationError:
    errors = {
        ("non_field_errors" if name == "__all__" else name): [str(m) for m in messages]
        for name, messages in form.errors.items()
    }
    return serializers.ValidationError(errors)


# Serializers ---------------------------------------------------------------------------------


class EventQuerySerializer(serializers.Serializer):
    agreement = id_field(required=False, help_text="Events of this agreement.")
    actor = serializers.CharField(
        required=False, max_length=150, help_text="Username at the time; «system» for the system."
    )
    action = serializers.ChoiceField(required=False, choices=AuditAction.choices)
    date_from = serializers.DateField(required=False, help_text="From this Europe/Rome day.")
    date_to = serializers.DateField(required=False, help_text="To this Europe/Rome day, included.")


class ExportRequestSerializer(EventQuerySerializer):
    format = serializers.ChoiceField(choices=ExportJob.Format.choices)


class AuditEventSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    actor_id = serializers.IntegerField(allow_null=True)
    actor_username = serializers.CharField(allow_blank=True)
    actor_role = serializers.CharField(allow_blank=True)
    action = serializers.CharField()
    action_label = serializers.CharField()
    object_type = serializers.CharField(allow_blank=True)
    object_id = serializers.CharField(allow_blank=True)
    agreement_id = serializers.IntegerField(allow_null=True)
    payload = serializers.DictField()
    documents = serializers.ListField(child=serializers.DictField())
    reason = serializers.CharField(allow_blank=True)
    request_id = serializers.CharField(allow_blank=True)
    prev_hash = serializers.CharField()
    hash = serializers.CharField()


class CheckpointSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    tree_size = serializers.IntegerField(help_text="How many events the tree covers (1..size).")
    root_hash = serializers.CharField(help_text="RFC 6962 Merkle root, hex.")
    head_hash = serializers.CharField(help_text="Chain hash of event tree_size.")
    created_at = serializers.DateTimeField()
    tree_head = serializers.CharField(help_text="The signed bytes (canonical JSON), base64.")
    signature = serializers.CharField(help_text="The seal's signature over tree_head, base64.")
    signature_algorithm = serializers.CharField()
    seal_certificate = serializers.CharField(help_text="DER, base64.")
    seal_chain = serializers.CharField(help_text="CA certificates, DER one after the other, b64.")
    tsa_url = serializers.CharField(allow_blank=True)
    timestamp_token = serializers.CharField(
        allow_null=True, help_text="RFC 3161 token over SHA-256(tree_head || signature), b64."
    )
    timestamp_time = serializers.DateTimeField(allow_null=True)
    timestamp_error = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)


class ChainStatusSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    events = serializers.IntegerField(help_text="Events verified.")
    head_hash = serializers.CharField(allow_blank=True)
    first_bad_seq = serializers.IntegerField(allow_null=True)
    problem = serializers.CharField(allow_blank=True)
    head_seq = serializers.IntegerField(help_text="The last event written.")
    checkpoint = CheckpointSerializer(allow_null=True, help_text="The latest checkpoint.")


class InclusionQuerySerializer(serializers.Serializer):
    seq = id_field(help_text="The event's sequence number.")
    checkpoint = id_field(required=False, help_text="Checkpoint number (default: the latest).")


class ConsistencyQuerySerializer(serializers.Serializer):
    old = id_field(help_text="The earlier checkpoint's number.")
    new = id_field(required=False, help_text="The later checkpoint's number (default: latest).")


class InclusionProofSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    checkpoint = serializers.IntegerField()
    tree_size = serializers.IntegerField()
    leaf_hash = serializers.CharField(help_text="RFC 6962 leaf hash of the event, hex.")
    root_hash = serializers.CharField()
    path = serializers.ListField(child=serializers.CharField(), help_text="Hex, bottom-up.")


class ConsistencyProofSerializer(serializers.Serializer):
    old_checkpoint = serializers.IntegerField()
    new_checkpoint = serializers.IntegerField()
    old_size = serializers.IntegerField()
    new_size = serializers.IntegerField()
    old_root = serializers.CharField()
    new_root = serializers.CharField()
    path = serializers.ListField(child=serializers.CharField())


class HashSerializer(serializers.Serializer):
    label = serializers.CharField(allow_blank=True)
    sha256 = serializers.CharField(allow_blank=True)


class RefSerializer(serializers.Serializer):
    kind = serializers.CharField()
    id = serializers.CharField()


class EvidenceSerializer(serializers.Serializer):
    ok = serializers.BooleanField(allow_null=True, help_text="False: a failure; null: a note.")
    text = serializers.CharField(allow_blank=True)
    events = serializers.ListField(child=serializers.IntegerField())
    hashes = HashSerializer(many=True)
    refs = RefSerializer(many=True)


STATUS_CHOICES = [(str(s), str(s)) for s in Status]


class CheckSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[(c, c) for c in CHECK_CODES])
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    summary = serializers.CharField(allow_blank=True)
    evidence = EvidenceSerializer(many=True)


class AgreementReportSerializer(serializers.Serializer):
    agreement = serializers.IntegerField()
    subject = serializers.CharField(allow_blank=True)
    kind = serializers.CharField(allow_blank=True)
    state = serializers.CharField()
    legal_officer = serializers.CharField(allow_blank=True)
    registration = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    checks = CheckSerializer(many=True)


class ReportChainSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    events = serializers.IntegerField()
    head_hash = serializers.CharField(allow_blank=True)
    first_bad_seq = serializers.IntegerField(allow_null=True)
    problem = serializers.CharField(allow_blank=True)


class PeriodSerializer(serializers.Serializer):
    locals()["from"] = serializers.DateField()
    to = serializers.DateField()


class ProcedureReportSerializer(serializers.Serializer):
    """audit.procedure.ProcedureReport.to_dict() (RULES.md V1)."""

    schema = serializers.CharField()
    generated_at = serializers.DateTimeField()
    scope = serializers.ChoiceField(choices=[("agreement", "agreement"), ("period", "period")])
    period = PeriodSerializer(allow_null=True)
    status = serializers.ChoiceField(choices=STATUS_CHOICES)
    chain = ReportChainSerializer()
    agreements = AgreementReportSerializer(many=True)


class PeriodQuerySerializer(serializers.Serializer):
    date_from = serializers.DateField(help_text="Agreements signed or registered from this day.")
    date_to = serializers.DateField(help_text="…to this day (at most 366 days after).")


class ExportJobSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    format = serializers.ChoiceField(choices=ExportJob.Format.choices)
    status = serializers.ChoiceField(choices=ExportJob.Status.choices)
    status_label = serializers.CharField()
    requested_at = serializers.DateTimeField()
    requested_by = serializers.CharField()
    selection = serializers.DictField()
    until_seq = serializers.IntegerField(help_text="The log's last event when it was asked for.")
    done = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)
    percent = serializers.IntegerField()
    finished = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
    sha256 = serializers.CharField(allow_blank=True)
    size = serializers.IntegerField(allow_null=True)
    download_url = serializers.CharField(allow_blank=True, help_text="Once the export is done.")


# Building the answers ------------------------------------------------------------------------


def _event_data(event: AuditEvent) -> dict:
    return AuditEventSerializer(
        {
            "seq": event.seq,
            "created_at": event.created_at,
            "actor_id": event.actor_id,
            "actor_username": event.actor_username,
            "actor_role": event.actor_role,
            "action": event.action,
            "action_label": str(event.get_action_display()),
            "object_type": event.object_type,
            "object_id": event.object_id,
            "agreement_id": event.agreement_id,
            "payload": event.payload_data,
            "documents": event.document_list,
            "reason": event.reason,
            "request_id": event.request_id,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        }
    ).data


def _checkpoint_data(checkpoint: Checkpoint | None) -> dict | None:
    if checkpoint is None:
        return None
    return CheckpointSerializer(
        {
            "number": checkpoint.number,
            "tree_size": checkpoint.tree_size,
            "root_hash": checkpoint.root_hash,
            "head_hash": checkpoint.head_hash,
            "created_at": checkpoint.created_at,
            "tree_head": _b64(checkpoint.tree_head),
            "signature": _b64(checkpoint.signature),
            "signature_algorithm": checkpoint.signature_algorithm,
            "seal_certificate": _b64(checkpoint.seal_certificate),
            "seal_chain": _b64(checkpoint.seal_chain),
            "tsa_url": checkpoint.tsa_url,
            "timestamp_token": _b64(checkpoint.timestamp_token)
            if checkpoint.timestamp_token
            else None,
            "timestamp_time": checkpoint.timestamp_time,
            "timestamp_error": checkpoint.timestamp_error,
            "reason": checkpoint.reason,
        }
    ).data


def _job_data(job: ExportJob) -> dict:
    return ExportJobSerializer(
        {
            "id": job.pk,
            "format": job.format,
            "status": job.status,
            "status_label": str(job.get_status_display()),
            "requested_at": job.requested_at,
            "requested_by": job.requested_by.get_username(),
            "selection": job.filters or {},
            "until_seq": job.until_seq,
            "done": job.done,
            "total": job.total,
            "percent": job.percent,
            "finished": job.finished,
            "error": job.error,
            "sha256": job.sha256,
            "size": job.size,
            "download_url": reverse("api:audit_export_download", args=[job.pk])
            if job.status == ExportJob.Status.DONE
            else "",
        }
    ).data


def _criteria(data) -> dict:
    """The selection as the workspace's form makes it (audit.forms.AuditFilterForm)."""
    form = AuditFilterForm(data)
    if not form.is_valid():
        raise _form_errors(form)
    return form.criteria()


def _report_data(report) -> dict:
    return ProcedureReportSerializer(report.to_dict()).data


def _pdf(report, name: str):
    from audit.procedure import report_pdf

    response = FileResponse(
        iter([report_pdf(report)]), as_attachment=True, filename=name, content_type=PDF
    )
    return response


# The log -------------------------------------------------------------------------------------


class EventListView(APIView):
    @extend_schema(
        tags=[TAG],
        operation_id="audit_events",
        summary="The audit log, newest first, filtered",
        description="Auditors and administrators. The view (selection and page) is itself "
        "recorded in the log (audit.viewed).",
        parameters=[EventQuerySerializer, *PAGE_PARAMETERS],
        responses={200: paged(AuditEventSerializer), **READ},
    )
    def get(self, request):
        _gate(request.user, "log")
        EventQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
        criteria = _criteria(request.query_params)
        paginator = Pagination()
        page = paginator.paginate_queryset(auditor.select_events(criteria), request, view=self)
        auditor.log_viewed(
            actor=request.user,
            what="log",
            payload={"selection": criteria, "page": paginator.page.number},
        )
        return paginator.get_paginated_response([_event_data(event) for event in page])


class EventDetailView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=[SEQ],
        operation_id="audit_event",
        summary="One audit event",
        responses={200: AuditEventSerializer, **READ_ERRORS},
    )
    def get(self, request, seq: int):
        _gate(request.user, "event")
        event = AuditEvent.objects.filter(seq=seq).first()
        if event is None:
            raise Http404(_("There is no audit event %(seq)d.") % {"seq": seq})
        auditor.log_viewed(actor=request.user, what="event", payload={"seq": seq})
        return Response(_event_data(event))


class ChainView(APIView):
    @extend_schema(
        tags=[TAG],
        operation_id="audit_chain",
        summary="Verify the hash chain now",
        description="Recomputes every event's hash from the first (RULES.md A2): `ok`, or the "
        "first event whose hash does not match. With the latest checkpoint. Recorded.",
        responses={200: ChainStatusSerializer, **READ_ERRORS},
    )
    def get(self, request):
        status_ = auditor.chain_verify(actor=request.user)
        return Response(
            ChainStatusSerializer(
                {
                    "ok": status_.ok,
                    "events": status_.count,
                    "head_hash": status_.head_hash,
                    "first_bad_seq": status_.first_bad_seq,
                    "problem": status_.problem,
                    "head_seq": auditor.head_seq(),
                    "checkpoint": _checkpoint_data(auditor.latest_checkpoint()),
                }
            ).data
        )


# Checkpoints and proofs ----------------------------------------------------------------------


class CheckpointListView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=PAGE_PARAMETERS,
        operation_id="audit_checkpoints",
        summary="The checkpoints (signed tree heads), newest first",
        responses={200: paged(CheckpointSerializer), **READ},
    )
    def get(self, request):
        _gate(request.user, "checkpoints")
        paginator = Pagination()
        page = paginator.paginate_queryset(
            Checkpoint.objects.order_by("-number"), request, view=self
        )
        auditor.log_viewed(
            actor=request.user, what="checkpoints", payload={"page": paginator.page.number}
        )
        return paginator.get_paginated_response([_checkpoint_data(c) for c in page])


class CheckpointLatestView(APIView):
    @extend_schema(
        tags=[TAG],
        operation_id="audit_checkpoint_latest",
        summary="The latest checkpoint",
        responses={200: CheckpointSerializer, **READ_ERRORS},
    )
    def get(self, request):
        _gate(request.user, "checkpoint")
        checkpoint = checkpoints.latest_checkpoint()
        if checkpoint is None:
            raise Http404(_("There is no audit checkpoint yet."))
        auditor.log_viewed(
            actor=request.user, what="checkpoint", payload={"number": checkpoint.number}
        )
        return Response(_checkpoint_data(checkpoint))


class CheckpointDetailView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=[NUMBER],
        operation_id="audit_checkpoint",
        summary="One checkpoint",
        responses={200: CheckpointSerializer, **READ_ERRORS},
    )
    def get(self, request, number: int):
        _gate(request.user, "checkpoint")
        checkpoint = checkpoints.checkpoint_get(number)
        auditor.log_viewed(actor=request.user, what="checkpoint", payload={"number": number})
        return Response(_checkpoint_data(checkpoint))


class InclusionProofView(APIView):
    @extend_schema(
        tags=[TAG],
        operation_id="audit_inclusion_proof",
        summary="Proof that an event is in a checkpoint's tree",
        description="RFC 6962: hashing `leaf_hash` up with `path` gives the checkpoint's root. "
        "Checked against the root before it is given.",
        parameters=[InclusionQuerySerializer],
        responses={200: InclusionProofSerializer, **READ},
    )
    def get(self, request):
        _gate(request.user, "inclusion_proof")
        query = InclusionQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        seq, number = query.validated_data["seq"], query.validated_data.get("checkpoint")
        proof = checkpoints.inclusion_proof(seq, checkpoint=number)
        auditor.log_viewed(
            actor=request.user,
            what="inclusion_proof",
            payload={"seq": seq, "checkpoint": proof.checkpoint},
        )
        return Response(InclusionProofSerializer(proof.to_dict()).data)


class ConsistencyProofView(APIView):
    @extend_schema(
        tags=[TAG],
        operation_id="audit_consistency_proof",
        summary="Proof that a later checkpoint extends an earlier one",
        description="RFC 6962 consistency proof between the two trees, checked against both "
        "roots before it is given.",
        parameters=[ConsistencyQuerySerializer],
        responses={200: ConsistencyProofSerializer, **READ},
    )
    def get(self, request):
        _gate(request.user, "consistency_proof")
        query = ConsistencyQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        old, new = query.validated_data["old"], query.validated_data.get("new")
        proof = checkpoints.consistency_proof(old, new)
        auditor.log_viewed(
            actor=request.user,
            what="consistency_proof",
            payload={"old": proof.old_checkpoint, "new": proof.new_checkpoint},
        )
        return Response(ConsistencyProofSerializer(proof.to_dict()).data)


# Procedure verification reports --------------------------------------------------------------


def _agreement_or_404(user, pk: int) -> None:
    # Auditors see every agreement; others are refused by the service (and recorded) first.
    if auditor.can_audit(user) and not Agreement.objects.filter(pk=pk).exists():
        raise Http404(_("There is no such agreement."))


class ProcedureAgreementView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID],
        operation_id="audit_procedure_agreement",
        summary="Procedure verification report of one agreement (JSON)",
        description="Each check of RULES.md V1 (order, entitled, four_eyes, signatures, "
        "signatories, registration, chain) with PASS, FAIL or NOT_APPLICABLE and its evidence. "
        "Producing it is recorded.",
        responses={200: ProcedureReportSerializer, **READ_ERRORS},
    )
    def get(self, request, id: int):
        _agreement_or_404(request.user, id)
        report = auditor.procedure_report_produce(actor=request.user, agreement_id=id, fmt="json")
        return Response(_report_data(report))


class ProcedureAgreementPdfView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID],
        operation_id="audit_procedure_agreement_pdf",
        summary="Procedure verification report of one agreement (PDF)",
        responses=file_responses(PDF, "The report."),
    )
    def get(self, request, id: int):
        _agreement_or_404(request.user, id)
        report = auditor.procedure_report_produce(actor=request.user, agreement_id=id, fmt="pdf")
        return _pdf(report, f"stipula-procedure-{id}.pdf")


def _period(request):
    PeriodQuerySerializer(data=request.query_params).is_valid(raise_exception=True)
    form = PeriodForm(request.query_params)
    if not form.is_valid():
        raise _form_errors(form)
    return form.cleaned_data["date_from"], form.cleaned_data["date_to"]


class ProcedurePeriodView(APIView):
    @extend_schema(
        tags=[TAG],
        operation_id="audit_procedure_period",
        summary="Procedure verification report of a period (JSON)",
        description="Every agreement signed or registered in the period (at most 366 days).",
        parameters=[PeriodQuerySerializer],
        responses={200: ProcedureReportSerializer, **READ},
    )
    def get(self, request):
        _gate(request.user, "procedure_period")
        start, end = _period(request)
        report = auditor.procedure_report_produce(
            actor=request.user, date_from=start, date_to=end, fmt="json"
        )
        return Response(_report_data(report))


class ProcedurePeriodPdfView(APIView):
    renderer_classes = [JSONRenderer, PdfRenderer]

    @extend_schema(
        tags=[TAG],
        operation_id="audit_procedure_period_pdf",
        summary="Procedure verification report of a period (PDF)",
        parameters=[PeriodQuerySerializer],
        responses=file_responses(PDF, "The report.", READ),
    )
    def get(self, request):
        _gate(request.user, "procedure_period")
        start, end = _period(request)
        report = auditor.procedure_report_produce(
            actor=request.user, date_from=start, date_to=end, fmt="pdf"
        )
        return _pdf(report, f"stipula-procedure-{start:%Y%m%d}-{end:%Y%m%d}.pdf")


# Bundles and exports -------------------------------------------------------------------------


class AgreementBundleView(APIView):
    renderer_classes = [JSONRenderer, ZipRenderer]

    @extend_schema(
        tags=[TAG],
        parameters=[AGREEMENT_ID],
        operation_id="audit_agreement_bundle",
        summary="The audit bundle of one agreement (ZIP, verifiable offline)",
        description="The agreement's events with their inclusion proofs under a fresh "
        "checkpoint, the checkpoints, seals and timestamps: verify it with `python -m "
        "audit.verify_bundle`. Recorded (audit.bundle_exported).",
        responses=file_responses(ZIP, "The bundle.", ERRORS),
    )
    def get(self, request, id: int):
        _agreement_or_404(request.user, id)
        target = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115
        try:
            name, sha256 = auditor.bundle_export(actor=request.user, agreement_id=id, target=target)
        except BaseException:
            target.close()
            raise
        target.seek(0)
        response = FileResponse(target, as_attachment=True, filename=name, content_type=ZIP)
        response["ETag"] = f'"{sha256}"'
        return response


class ExportListView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=PAGE_PARAMETERS,
        operation_id="audit_exports",
        summary="Your exports (every export for an administrator)",
        responses={200: paged(ExportJobSerializer), **READ},
    )
    def get(self, request):
        _gate(request.user, "exports")
        jobs_list = ExportJob.objects.select_related("requested_by")
        if not auditor.may_see_all_exports(request.user):
            jobs_list = jobs_list.filter(requested_by=request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(jobs_list, request, view=self)
        return paginator.get_paginated_response([_job_data(job) for job in page])

    @extend_schema(
        tags=[TAG],
        operation_id="audit_export_request",
        summary="Export a selection of the log (background job)",
        description="CSV, JSON Lines, a PDF report or an audit bundle of the selection, made in "
        "the background over the log as it stands now; poll the job, then download it.",
        request=ExportRequestSerializer,
        responses={202: ExportJobSerializer, **ERRORS},
    )
    def post(self, request):
        body = ExportRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        criteria = _criteria(
            {k: v for k, v in request.data.items() if k != "format"}
            if hasattr(request.data, "items")
            else {}
        )
        job = auditor.export_request(
            actor=request.user, fmt=body.validated_data["format"], criteria=criteria
        )
        job = ExportJob.objects.select_related("requested_by").get(pk=job.pk)
        return Response(_job_data(job), status=status.HTTP_202_ACCEPTED)


def _job_or_404(user, pk: int) -> ExportJob:
    job = ExportJob.objects.select_related("requested_by").filter(pk=pk).first()
    if job is None or not auditor.may_download(job, user):
        raise Http404(_("There is no such export, or it is not yours."))
    return job


class ExportDetailView(APIView):
    @extend_schema(
        tags=[TAG],
        parameters=[EXPORT_ID],
        operation_id="audit_export",
        summary="An export's progress",
        description="Not recorded: it shows nothing of the log.",
        responses={200: ExportJobSerializer, **READ_ERRORS},
    )
    def get(self, request, id: int):
        _gate(request.user, "export")
        return Response(_job_data(_job_or_404(request.user, id)))


class ExportDownloadView(APIView):
    renderer_classes = [JSONRenderer, CsvRenderer, NdjsonRenderer, PdfRenderer, ZipRenderer]

    @extend_schema(
        tags=[TAG],
        parameters=[EXPORT_ID],
        operation_id="audit_export_download",
        summary="Download a finished export",
        description="Only who asked for it, or an administrator. Each download is recorded "
        "with the file's SHA-256.",
        responses={
            **{
                (200, media): OpenApiResponse(OpenApiTypes.BINARY, description="The file.")
                for media in ("text/csv", "application/x-ndjson", PDF, ZIP)
            },
            **json_errors({**READ_ERRORS, 409: ERRORS[409]}),
        },
    )
    def get(self, request, id: int):
        _gate(request.user, "export_download")
        job = auditor.export_download(actor=request.user, job=_job_or_404(request.user, id))
        try:
            handle = jobs.export_path(job).open("rb")
        except FileNotFoundError:
            raise Http404(_("The file of this export is missing from the storage.")) from None
        response = FileResponse(
            handle,
            as_attachment=True,
            filename=auditor.download_name(job),
            content_type=CONTENT_TYPES[job.format],
        )
        response["ETag"] = f'"{job.sha256}"'
        return response


urlpatterns = [
    path("audit/events/", EventListView.as_view(), name="audit_events"),
    path("audit/events/<int:seq>/", EventDetailView.as_view(), name="audit_event"),
    path("audit/chain/", ChainView.as_view(), name="audit_chain"),
    path("audit/checkpoints/", CheckpointListView.as_view(), name="audit_checkpoints"),
    path(
        "audit/checkpoints/latest/",
        CheckpointLatestView.as_view(),
        name="audit_checkpoint_latest",
    ),
    path(
        "audit/checkpoints/<int:number>/",
        CheckpointDetailView.as_view(),
        name="audit_checkpoint",
    ),
    path("audit/proofs/inclusion/", InclusionProofView.as_view(), name="audit_inclusion_proof"),
    path(
        "audit/proofs/consistency/",
        ConsistencyProofView.as_view(),
        name="audit_consistency_proof",
    ),
    path(
        "audit/procedure/agreements/<int:id>/",
        ProcedureAgreementView.as_view(),
        name="audit_procedure_agreement",
    ),
    path(
        "audit/procedure/agreements/<int:id>/report.pdf",
        ProcedureAgreementPdfView.as_view(),
        name="audit_procedure_agreement_pdf",
    ),
    path("audit/procedure/period/", ProcedurePeriodView.as_view(), name="audit_procedure_period"),
    path(
        "audit/procedure/period/report.pdf",
        ProcedurePeriodPdfView.as_view(),
        name="audit_procedure_period_pdf",
    ),
    path(
        "audit/agreements/<int:id>/bundle.zip",
        AgreementBundleView.as_view(),
        name="audit_agreement_bundle",
    ),
    path("audit/exports/", ExportListView.as_view(), name="audit_exports"),
    path("audit/exports/<int:id>/", ExportDetailView.as_view(), name="audit_export"),
    path(
        "audit/exports/<int:id>/download",
        ExportDownloadView.as_view(),
        name="audit_export_download",
    ),
]
