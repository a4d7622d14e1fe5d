# ruff: noqa: F811 - pytest fixtures imported from tests/api/records_fixtures.py
"""The auditor's workspace through the API (issue 8): the log filtered (and the view recorded),
who may read it, procedure reports, proofs under signed checkpoints, bundles verified offline,
exports as background jobs."""

import csv
import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from agreements.services import agreement_submit_for_review
from audit.checkpoints import checkpoint_make
from audit.merkle import verify_consistency, verify_inclusion
from audit.models import AuditAction, AuditEvent, ExportJob
from audit.procedure import CHECK_CODES
from audit.verify_bundle import load_trust_roots, verify
from tests.api.records_fixtures import auditor, pki, pki_dir, signing_settings  # noqa: F401
from tests.api.test_signing import assert_error
from tests.audit.conftest import seal_file, sealed  # noqa: F401 - fixtures
from tests.audit.test_workspace import celery_eager  # noqa: F401 - fixture
from tests.factories import events_for, make_ready_agreement, make_user

pytestmark = pytest.mark.django_db


def url(name, *args):
    return reverse(f"api:{name}", args=args)


def recorded(action, actor):
    return list(AuditEvent.objects.filter(action=action, actor_id=actor.pk).order_by("seq"))


@pytest.fixture
def agreements(officer, signing_settings):
    return [make_ready_agreement(officer), make_ready_agreement(officer)]


def test_the_log_is_filtered_and_each_view_is_recorded(auditor, officer, agreements, api_for):
    first, second = agreements
    agreement_submit_for_review(actor=officer, agreement=second)
    client = api_for(auditor)

    def seqs(**query):
        response = client.get(url("audit_events"), {**query, "page_size": 200})
        assert response.status_code == 200, response.content
        return [e["seq"] for e in response.json()["results"]]

    assert seqs(agreement=first.pk) == [e.seq for e in reversed(events_for(first))]
    assert seqs(actor=officer.username, agreement=second.pk) == [
        e.seq for e in reversed(events_for(second)) if e.actor_id == officer.pk
    ]
    submitted = seqs(action=AuditAction.SUBMITTED_FOR_REVIEW)
    assert submitted == [events_for(second, AuditAction.SUBMITTED_FOR_REVIEW)[0].seq]
    today = timezone.localdate()
    assert seqs(agreement=first.pk, date_from=today, date_to=today)
    assert seqs(date_to=today - datetime.timedelta(days=1)) == []

    event = client.get(url("audit_events"), {"agreement": first.pk}).json()["results"][-1]
    assert event["action"] == AuditAction.AGREEMENT_CREATED
    assert event["prev_hash"] and event["hash"] and isinstance(event["payload"], dict)

    views = recorded(AuditAction.AUDIT_VIEWED, auditor)
    assert views[0].payload_data["selection"] == {"agreement": first.pk}
    assert views[0].payload_data["what"] == "log"

    reversed_days = client.get(url("audit_events"), {"date_from": today, "date_to": "2000-01-01"})
    assert "must not precede" in assert_error(reversed_days, 400)["message"]
    wrong = client.get(url("audit_events"), {"agreement": "x", "action": "nope"})
    assert set(assert_error(wrong, 400)["fields"]) == {"agreement", "action"}


def test_only_auditors_and_administrators_read_the_log(officer, agreements, api_for):
    for name in ("audit_events", "audit_chain", "audit_checkpoints", "audit_exports"):
        error = assert_error(api_for(officer).get(url(name)), 403, "permission_denied")
        assert "Only auditors and administrators" in error["message"]
    refused = AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED, actor_id=officer.pk)
    assert refused.count() == 4
    report = api_for(officer).get(url("audit_procedure_agreement", agreements[0].pk))
    assert_error(report, 403)
    assert_error(api_for(None).get(url("audit_events")), 401)
    admin = make_user("admin1", "administrator")
    assert api_for(admin).get(url("audit_events")).status_code == 200


def test_the_procedure_report_has_the_v1_checks_and_is_recorded(auditor, agreements, api_for):
    agreement = agreements[0]
    client = api_for(auditor)

    response = client.get(url("audit_procedure_agreement", agreement.pk))

    assert response.status_code == 200, response.content
    report = response.json()
    assert report["scope"] == "agreement" and report["chain"]["ok"] is True
    [item] = report["agreements"]
    assert item["agreement"] == agreement.pk
    assert [c["code"] for c in item["checks"]] == list(CHECK_CODES)
    assert {c["status"] for c in item["checks"]} <= {"PASS", "FAIL", "NOT_APPLICABLE"}
    [produced] = recorded(AuditAction.PROCEDURE_REPORT_VIEWED, auditor)
    assert produced.payload_data["format"] == "json"

    pdf = client.get(url("audit_procedure_agreement_pdf", agreement.pk))
    assert pdf.status_code == 200 and b"".join(pdf.streaming_content).startswith(b"%PDF")
    assert_error(client.get(url("audit_procedure_agreement", 10**12)), 404)

    today = timezone.localdate().isoformat()
    period = client.get(url("audit_procedure_period"), {"date_from": today, "date_to": today})
    assert period.status_code == 200 and period.json()["scope"] == "period"
    too_long = client.get(
        url("audit_procedure_period"), {"date_from": "2020-01-01", "date_to": "2024-01-01"}
    )
    assert "at most 366 days" in assert_error(too_long, 400)["message"]


def test_checkpoints_and_their_proofs_verify(sealed, auditor, officer, api_for):
    make_ready_agreement(officer)
    first = checkpoint_make(reason="daily")
    make_ready_agreement(officer)
    second = checkpoint_make(reason="registration")
    client = api_for(auditor)

    latest = client.get(url("audit_checkpoint_latest")).json()
    assert (latest["number"], latest["tree_size"]) == (second.number, second.tree_size)
    assert latest["timestamp_token"]
    listed = client.get(url("audit_checkpoints")).json()["results"]
    assert [c["number"] for c in listed] == [second.number, first.number]

    seq = first.tree_size - 1
    response = client.get(url("audit_inclusion_proof"), {"seq": seq, "checkpoint": first.number})
    assert response.status_code == 200, response.content
    proof = response.json()
    verify_inclusion(
        seq - 1,
        proof["tree_size"],
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(node) for node in proof["path"]],
        bytes.fromhex(first.root_hash),
    )
    latest_proof = client.get(url("audit_inclusion_proof"), {"seq": seq}).json()
    assert latest_proof["checkpoint"] == second.number

    consistency = client.get(url("audit_consistency_proof"), {"old": first.number}).json()
    verify_consistency(
        first.tree_size,
        second.tree_size,
        bytes.fromhex(first.root_hash),
        bytes.fromhex(second.root_hash),
        [bytes.fromhex(node) for node in consistency["path"]],
    )

    uncovered = client.get(
        url("audit_inclusion_proof"), {"seq": second.tree_size + 1, "checkpoint": first.number}
    )
    assert "not covered by checkpoint" in assert_error(uncovered, 400)["message"]
    assert_error(client.get(url("audit_consistency_proof"), {"old": 999}), 404)
    whats = [e.payload_data["what"] for e in recorded(AuditAction.AUDIT_VIEWED, auditor)]
    assert {"inclusion_proof", "consistency_proof", "checkpoint"} <= set(whats)

    chain = client.get(url("audit_chain")).json()
    assert chain["ok"] is True and chain["checkpoint"]["number"] == second.number


def test_the_bundle_of_an_agreement_verifies_offline(
    sealed,
    auditor,
    officer,
    api_for,
    tmp_path,
):
    agreement = make_ready_agreement(officer)
    checkpoint_make(reason="daily")
    agreement_submit_for_review(actor=officer, agreement=agreement)

    response = api_for(auditor).get(url("audit_agreement_bundle", agreement.pk))

    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/zip"
    path = tmp_path / "bundle.zip"
    path.write_bytes(b"".join(response.streaming_content))
    root = tmp_path / "root.pem"
    root.write_bytes(sealed.cert_pem("root"))
    summary = verify(path, load_trust_roots([root]))
    assert "each included in checkpoint" in summary
    assert recorded(AuditAction.AUDIT_BUNDLE_EXPORTED, auditor)


def test_an_export_is_a_background_job_downloaded_by_its_requester(
    auditor,
    agreements,
    celery_eager,
    django_capture_on_commit_callbacks,
    api_for,
):
    agreement = agreements[0]
    client = api_for(auditor)
    selected = [e.seq for e in events_for(agreement)]

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url("audit_exports"), {"format": "csv", "agreement": agreement.pk}, format="json"
        )

    assert response.status_code == 202, response.content
    job_id = response.json()["id"]
    status = client.get(url("audit_export", job_id)).json()
    assert (status["status"], status["percent"], status["finished"]) == ("done", 100, True)
    assert status["selection"] == {"agreement": agreement.pk}
    download = client.get(status["download_url"])
    assert download.status_code == 200
    rows = list(
        csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig")))
    )
    assert [int(row["seq"]) for row in rows] == selected
    job = ExportJob.objects.get(pk=job_id)
    made, downloaded = recorded(AuditAction.AUDIT_EXPORTED, auditor)
    assert made.payload_data["sha256"] == job.sha256
    assert downloaded.payload_data["stage"] == "downloaded"

    other = make_user("auditor2", "auditor")
    assert_error(api_for(other).get(url("audit_export", job_id)), 404)
    assert_error(api_for(other).get(url("audit_export_download", job_id)), 404)
    assert [j["id"] for j in client.get(url("audit_exports")).json()["results"]] == [job_id]
    bad = client.post(url("audit_exports"), {"format": "xls"}, format="json")
    assert "format" in assert_error(bad, 400)["fields"]
