"""A task and the change it stands for commit together or not at all."""

import pytest
from viewflow.workflow.status import STATUS

from agreements import services as agreement_services
from agreements.models import AgreementState
from agreements.storage import read_bytes
from audit.models import AuditAction
from signing.models import Signature
from tests.factories import events_for
from tests.workflow.conftest import all_compliant, approve, build_agreement, sign
from workflow import engine
from workflow import services as workflow_services
from workflow.models import AgreementTask, ReviewReport

pytestmark = pytest.mark.django_db


def open_review(agreement):
    return [
        (t.owner.username, t.status)
        for t in AgreementTask.objects.filter(deadline__agreement=agreement)
        if t.flow_task.name == "review" and t.status == STATUS.ASSIGNED
    ]


def test_an_approval_that_cannot_freeze_the_pdf_leaves_the_review_open(
    officer, reviewers, settings
):
    """The last approval fails while composing the PDF to sign (its source file is gone from
    storage): the review report, the task's completion and the approval all roll back."""
    agreement, _signatories = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    agreement_services.agreement_submit_for_review(actor=officer, agreement=agreement)
    agreement.refresh_from_db()
    pdf = settings.MEDIA_ROOT / agreement.current_version.pdf.name
    content = read_bytes(agreement.current_version.pdf.name)
    pdf.unlink()
    completed_before = len(events_for(agreement, AuditAction.TASK_COMPLETED))

    with pytest.raises(Exception):  # noqa: B017 - whatever storage raises for a missing file
        workflow_services.review_submit(
            actor=reviewers[0],
            agreement=agreement,
            outcomes=all_compliant(agreement),
            decision="approve",
        )

    agreement.refresh_from_db()
    assert agreement.state == AgreementState.LEGAL_REVIEW
    assert open_review(agreement) == [("rev.verdi", STATUS.ASSIGNED)]
    assert not ReviewReport.objects.exists()
    assert not events_for(agreement, AuditAction.REVIEW_SUBMITTED)
    # Only the drafting task, completed by the submission, before the attempt.
    assert len(events_for(agreement, AuditAction.TASK_COMPLETED)) == completed_before

    pdf.write_bytes(content)
    workflow_services.review_submit(
        actor=reviewers[0],
        agreement=agreement,
        outcomes=all_compliant(agreement),
        decision="approve",
    )
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.SIGNATURE


def test_a_signature_whose_task_cannot_move_on_is_not_recorded(
    pki, officer, reviewers, monkeypatch
):
    """Fault injected inside the system, after the signatory's task completed: the next
    signatory's task cannot be created. The signature, its audit event and the task's completion
    roll back together; the document is as it was."""
    agreement, signatories = build_agreement(officer, parties=2, reviewers=reviewers[:1])
    workflow_services.signing_order_set(actor=officer, agreement=agreement, order="sequential")
    approve(agreement, officer, reviewers[0])
    document = agreement.signing_document

    def broken(**kwargs):
        raise RuntimeError("injected failure while opening the next task")

    monkeypatch.setattr(engine.events, "task_created", broken)
    with pytest.raises(RuntimeError, match="injected"):
        sign(pki, agreement, signatories[0])

    assert not Signature.objects.exists()
    document.refresh_from_db()
    assert document.current_sha256 == document.prepared_sha256
    assert not events_for(agreement, AuditAction.SIGNATURE_APPLIED)
    [task] = [
        t
        for t in AgreementTask.objects.filter(deadline__agreement=agreement)
        if t.flow_task.name == "sign"
    ]
    assert (task.status, task.data["signatory"]) == (STATUS.ASSIGNED, signatories[0].pk)

    monkeypatch.undo()
    sign(pki, agreement, signatories[0])
    task.refresh_from_db()
    assert task.status == STATUS.DONE
