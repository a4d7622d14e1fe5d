"""The auditor's workspace: search and filters, who may use it, what it records, exports run as
background jobs, the procedure report pages, and a list whose query count does not grow."""

import csv
import datetime
import io
import json
import re
import threading
import zipfile

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agreements.models import AgreementState
from agreements.services import agreement_submit_for_review
from audit import auditor as auditor_services
from audit.auditor import CHAIN_STATUS_KEY
from audit.chain import canonical_json
from audit.models import AuditAction, AuditEvent, ExportJob
from audit.testing import drop_triggers, ensure_triggers
from stipula.celery import app as celery_app
from stipula.errors import PermissionDenied
from tests.factories import events_for, make_ready_agreement, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    # Export files (and the development seal of checkpoints) go under STIPULA_DATA_DIR.
    settings.DATA_DIR = tmp_path / "data"
    # The latest verification of the chain is kept in the cache: each test starts without one.
    cache.delete(CHAIN_STATUS_KEY)


@pytest.fixture
def auditor(db):
    return make_user("auditor", "auditor", first_name="Aurora", last_name="Revisori")


@pytest.fixture
def client_of(client):
    def sign_in(user):
        client.force_login(user)
        client.cookies["django_language"] = "en"
        return client

    return sign_in


@pytest.fixture
def agreements(officer):
    """Two agreements in draft, each with its parties, signatories and a version: a log."""
    return [make_ready_agreement(officer), make_ready_agreement(officer)]


def seqs(response) -> list[int]:
    return [int(s) for s in re.findall(r'<tr data-seq="(\d+)"', response.content.decode())]


def recorded(action, actor=None) -> list[AuditEvent]:
    events = AuditEvent.objects.filter(action=action).order_by("seq")
    if actor is not None:
        events = events.filter(actor_id=actor.pk)
    return list(events)


# Search and filters --------------------------------------------------------------------------


def test_the_log_is_searched_by_agreement_actor_action_and_days(
    client_of, auditor, officer, agreements
):
    first, second = agreements
    browser = client_of(auditor)
    index = reverse("auditlog:index")

    by_agreement = browser.get(index, {"agreement": first.pk})
    assert by_agreement.status_code == 200
    assert seqs(by_agreement) == [e.seq for e in reversed(events_for(first))]

    by_actor = browser.get(index, {"actor": officer.username, "agreement": second.pk})
    assert seqs(by_actor) == [
        e.seq for e in reversed(events_for(second)) if e.actor_id == officer.pk
    ]

    by_action = browser.get(index, {"action": AuditAction.PARTY_ADDED})
    expected = AuditEvent.objects.filter(action=AuditAction.PARTY_ADDED).order_by("-seq")
    assert seqs(by_action) == [e.seq for e in expected] and len(expected) == 4

    today = timezone.localdate()
    assert seqs(browser.get(index, {"date_from": today, "date_to": today, "agreement": first.pk}))
    yesterday = today - datetime.timedelta(days=1)
    assert seqs(browser.get(index, {"date_to": yesterday})) == []
    assert seqs(browser.get(index, {"date_from": today + datetime.timedelta(days=1)})) == []

    reversed_days = browser.get(index, {"date_from": today, "date_to": yesterday})
    assert "The end of the period must not precede its start." in reversed_days.content.decode()


def test_the_log_is_paginated_newest_first(client_of, auditor, agreements):
    browser = client_of(auditor)
    total = AuditEvent.objects.count()
    page = browser.get(reverse("auditlog:index"))
    shown = seqs(page)
    assert shown == sorted(shown, reverse=True)
    assert len(shown) == min(total, 50)


def test_the_timeline_of_an_agreement_shows_each_event_and_the_lifecycle(
    client_of, auditor, officer, agreements
):
    agreement = agreements[0]
    agreement_submit_for_review(actor=officer, agreement=agreement)
    page = client_of(auditor).get(reverse("auditlog:timeline", args=[agreement.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    for event in events_for(agreement):
        assert f'data-seq="{event.seq}"' in html
    assert 'data-kind="transition"' in html
    assert 'data-lifecycle-current="legal_review"' in html


# Who may use it ------------------------------------------------------------------------------


def test_only_auditors_and_administrators_read_the_log(client, client_of, officer, agreements):
    agreement = agreements[0]
    pages = [
        reverse("auditlog:index"),
        reverse("auditlog:chain"),
        reverse("auditlog:timeline", args=[agreement.pk]),
        reverse("auditlog:procedure", args=[agreement.pk]),
        reverse("auditlog:procedure_json", args=[agreement.pk]),
        reverse("auditlog:procedure_period"),
        reverse("auditlog:exports"),
    ]
    assert client.get(pages[0]).status_code == 302  # anonymous: to the login page
    browser = client_of(officer)
    for url in pages:
        assert browser.get(url).status_code == 403, url
    assert browser.post(reverse("auditlog:exports"), {"format": "csv"}).status_code == 403
    assert not ExportJob.objects.exists()
    # Behind the pages, the services refuse too, and record the attempt.
    with pytest.raises(PermissionDenied):
        auditor_services.export_request(actor=officer, fmt="csv", criteria={})
    with pytest.raises(PermissionDenied):
        auditor_services.procedure_report_produce(actor=officer, agreement_id=agreement.pk)
    refusals = recorded(AuditAction.ACTION_REFUSED, officer)
    # Each page refused (viewflow answers 403 before the view: stipula.middleware records it),
    # then each service refused.
    assert [e.payload_data["attempted"] for e in refusals] == [
        *["audit.view"] * (len(pages) + 1),
        "audit.export",
        "audit.procedure_report",
    ]
    assert not ExportJob.objects.exists()
    assert not recorded(AuditAction.PROCEDURE_REPORT_VIEWED)

    administrator = make_user("admin", "administrator")
    assert client_of(administrator).get(pages[0]).status_code == 200


def test_auditors_change_nothing(client_of, auditor, agreements):
    """No route of the workspace changes the log or the procedure; the lifecycle's own routes
    refuse an auditor."""
    agreement = agreements[0]
    browser = client_of(auditor)
    for url in [
        reverse("auditlog:index"),
        reverse("auditlog:chain"),
        reverse("auditlog:timeline", args=[agreement.pk]),
        reverse("auditlog:procedure", args=[agreement.pk]),
        reverse("auditlog:procedure_period"),
    ]:
        assert browser.post(url).status_code == 405, url
    before = AuditEvent.objects.count()
    response = browser.post(
        reverse("agreements:transition", args=[agreement.pk, "submit_for_review"]),
        {"expected_state": "draft"},
        follow=True,
    )
    agreement.refresh_from_db()
    assert agreement.state == AgreementState.DRAFT
    assert "Only the responsible legal officer" in response.content.decode()
    # The refusal, and nothing else, was recorded.
    assert [e.action for e in AuditEvent.objects.filter(seq__gt=before)] == [
        AuditAction.ACTION_REFUSED
    ]


# What is recorded ----------------------------------------------------------------------------


def test_views_of_the_log_timeline_chain_and_reports_are_recorded(client_of, auditor, agreements):
    agreement = agreements[0]
    browser = client_of(auditor)

    browser.get(reverse("auditlog:index"), {"agreement": agreement.pk, "page": 1})
    browser.get(reverse("auditlog:timeline", args=[agreement.pk]))
    browser.get(reverse("auditlog:chain"))

    viewed = recorded(AuditAction.AUDIT_VIEWED, auditor)
    assert [e.payload_data["what"] for e in viewed] == ["log", "timeline", "chain"]
    assert viewed[0].payload_data["selection"] == {"agreement": agreement.pk}
    assert viewed[0].actor_role == "auditor"
    assert viewed[1].object_id == str(agreement.pk)
    assert viewed[2].payload_data["ok"] is True
    # Viewing is not part of the agreement's procedure.
    assert all(e.agreement_id is None for e in viewed)
    # The log's page shows that latest verification of the chain.
    page = browser.get(reverse("auditlog:index")).content.decode()
    assert 'data-chain-ok="true"' in page
    assert 'data-checkpoint=""' in page  # no checkpoint made yet

    for url in ("procedure", "procedure_pdf", "procedure_json"):
        assert browser.get(reverse(f"auditlog:{url}", args=[agreement.pk])).status_code == 200
    reports = recorded(AuditAction.PROCEDURE_REPORT_VIEWED, auditor)
    assert [e.payload_data["format"] for e in reports] == ["html", "pdf", "json"]
    assert reports[0].payload_data["agreements"] == {
        str(agreement.pk): {"status": "PASS", "failed": []}
    }


# The procedure report pages ------------------------------------------------------------------


def test_the_report_page_shows_each_check_and_a_failure(client_of, auditor, agreements):
    agreement = agreements[0]
    browser = client_of(auditor)
    url = reverse("auditlog:procedure", args=[agreement.pk])

    html = browser.get(url).content.decode()
    assert 'id="report-status"' in html and 'data-status="PASS"' in html
    assert 'data-check="order" data-status="PASS"' in html
    assert 'data-check="registration" data-status="NOT_APPLICABLE"' in html

    event = events_for(agreement, AuditAction.PARTY_ADDED)[0]
    drop_triggers()  # an edit in place, as someone with database access could make it
    try:
        AuditEvent.objects.filter(seq=event.seq).update(
            payload=canonical_json({**event.payload_data, "organisation": "Altro ente"})
        )
    finally:
        ensure_triggers()
    html = browser.get(url).content.decode()
    assert 'data-check="chain" data-status="FAIL"' in html
    assert 'data-check="order" data-status="PASS"' in html
    assert f"#{event.seq}" in html

    data = json.loads(browser.get(reverse("auditlog:procedure_json", args=[agreement.pk])).content)
    assert data["status"] == "FAIL"
    pdf = browser.get(reverse("auditlog:procedure_pdf", args=[agreement.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")


def test_the_period_report_page(client_of, auditor, agreements):
    browser = client_of(auditor)
    today = timezone.localdate().isoformat()
    page = browser.get(reverse("auditlog:procedure_period"), {"date_from": today, "date_to": today})
    assert page.status_code == 200
    # Drafts are not concluded: the period holds none of them.
    assert 'id="report-agreements"' in page.content.decode()
    assert "No agreement was signed or registered in the period." in page.content.decode()
    data = json.loads(
        browser.get(
            reverse("auditlog:procedure_period_json"), {"date_from": today, "date_to": today}
        ).content
    )
    assert data["scope"] == "period" and data["agreements"] == []
    assert recorded(AuditAction.PROCEDURE_REPORT_VIEWED, auditor)[-1].payload_data["period"] == {
        "from": today,
        "to": today,
    }
    # Without a period there is only the form, and nothing is recorded.
    count = len(recorded(AuditAction.PROCEDURE_REPORT_VIEWED, auditor))
    assert 'id="period-form"' in browser.get(reverse("auditlog:procedure_period")).content.decode()
    assert len(recorded(AuditAction.PROCEDURE_REPORT_VIEWED, auditor)) == count


# Exports -------------------------------------------------------------------------------------


@pytest.fixture
def celery_eager(settings, request):
    """STIPULA_NOTIFY_ASYNC on, with Celery running each task in this process as a worker
    would (CELERY_TASK_ALWAYS_EAGER)."""
    settings.STIPULA_NOTIFY_ASYNC = True
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    request.addfinalizer(lambda: setattr(celery_app.conf, "task_always_eager", eager))


def test_an_export_runs_in_celery_and_its_file_has_the_selected_rows(
    client_of, auditor, agreements, celery_eager, django_capture_on_commit_callbacks
):
    agreement = agreements[0]
    browser = client_of(auditor)
    selected = [e.seq for e in events_for(agreement)]

    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(
            reverse("auditlog:exports"), {"format": "csv", "agreement": agreement.pk}
        )
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("auditlog:export", args=[job.pk])
    assert job.status == ExportJob.Status.DONE
    assert (job.done, job.total) == (len(selected), len(selected))
    assert job.filters == {"agreement": agreement.pk}

    page = browser.get(reverse("auditlog:export", args=[job.pk])).content.decode()
    assert 'id="export-progress"' in page and 'data-status="done"' in page
    status = browser.get(reverse("auditlog:export_status", args=[job.pk])).json()
    assert status["percent"] == 100 and status["finished"] is True
    assert status["download_url"] == reverse("auditlog:export_download", args=[job.pk])

    download = browser.get(status["download_url"])
    assert download.status_code == 200
    data = b"".join(download.streaming_content)
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert [int(row["seq"]) for row in rows] == selected
    assert {row["agreement_id"] for row in rows} == {str(agreement.pk)}

    made, downloaded = recorded(AuditAction.AUDIT_EXPORTED, auditor)
    assert made.payload_data["rows"] == len(selected)
    assert made.payload_data["sha256"] == job.sha256
    assert downloaded.payload_data["stage"] == "downloaded"
    assert downloaded.document_list[0]["sha256"] == job.sha256


@pytest.mark.parametrize(("fmt", "magic"), [("pdf", b"%PDF"), ("bundle", b"PK\x03\x04")])
def test_a_pdf_report_or_an_audit_bundle_is_an_export_too(
    client_of, auditor, agreements, celery_eager, django_capture_on_commit_callbacks, fmt, magic
):
    today = timezone.localdate().isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        client_of(auditor).post(
            reverse("auditlog:exports"), {"format": fmt, "date_from": today, "date_to": today}
        )
    job = ExportJob.objects.get()
    assert job.status == ExportJob.Status.DONE, job.error
    download = client_of(auditor).get(reverse("auditlog:export_download", args=[job.pk]))
    assert b"".join(download.streaming_content).startswith(magic)
    made = AuditAction.AUDIT_BUNDLE_EXPORTED if fmt == "bundle" else AuditAction.AUDIT_EXPORTED
    assert recorded(made, auditor)


def test_the_progress_poll_records_nothing(
    client_of, auditor, agreements, celery_eager, django_capture_on_commit_callbacks
):
    browser = client_of(auditor)
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(reverse("auditlog:exports"), {"format": "jsonl"})
    job = ExportJob.objects.get()
    before = AuditEvent.objects.count()
    for _ in range(5):
        assert browser.get(reverse("auditlog:export_status", args=[job.pk])).status_code == 200
    browser.get(reverse("auditlog:export", args=[job.pk]))
    assert AuditEvent.objects.count() == before


def test_only_the_requester_and_administrators_download_an_export(
    client_of, auditor, agreements, celery_eager, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client_of(auditor).post(reverse("auditlog:exports"), {"format": "jsonl"})
    job = ExportJob.objects.get()
    url = reverse("auditlog:export_download", args=[job.pk])

    other = make_user("auditor2", "auditor")
    assert client_of(other).get(url).status_code == 404
    assert client_of(other).get(reverse("auditlog:export_status", args=[job.pk])).status_code == (
        404
    )
    administrator = make_user("admin", "administrator")
    response = client_of(administrator).get(url)
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == list(range(1, job.until_seq + 1))


@pytest.mark.django_db(transaction=True)
def test_without_celery_the_export_runs_in_a_thread_of_the_web_process(
    client_of, auditor, officer, settings
):
    settings.STIPULA_NOTIFY_ASYNC = False
    agreement = make_ready_agreement(officer)
    selected = [e.seq for e in events_for(agreement, AuditAction.SIGNATORY_ADDED)]
    browser = client_of(auditor)

    response = browser.post(
        reverse("auditlog:exports"),
        {"format": "jsonl", "agreement": agreement.pk, "action": AuditAction.SIGNATORY_ADDED},
    )
    job = ExportJob.objects.get()
    assert response.status_code == 302
    for worker in threading.enumerate():
        if worker.name == f"audit-export-{job.pk}":
            worker.join()
    job.refresh_from_db()
    assert job.status == ExportJob.Status.DONE, job.error
    download = browser.get(reverse("auditlog:export_download", args=[job.pk]))
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == selected


# Bundles -------------------------------------------------------------------------------------


def test_the_bundle_of_one_agreement_downloads_and_is_recorded(client_of, auditor, agreements):
    agreement = agreements[0]
    expected = [e.seq for e in events_for(agreement)]
    response = client_of(auditor).post(reverse("auditlog:agreement_bundle", args=[agreement.pk]))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    lines = archive.read("events.jsonl").decode().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == expected
    (event,) = recorded(AuditAction.AUDIT_BUNDLE_EXPORTED, auditor)
    assert event.payload_data["scope"] == {"kind": "agreement", "agreement_id": agreement.pk}


# Query counts --------------------------------------------------------------------------------


def test_the_list_takes_the_same_queries_however_long_the_log(
    client_of, auditor, officer, django_assert_num_queries
):
    make_ready_agreement(officer)
    browser = client_of(auditor)
    url = reverse("auditlog:index")
    browser.get(url)  # the session and the caches warm up
    with CaptureQueriesContext(connection) as first:
        browser.get(url, {"action": AuditAction.PARTY_ADDED})

    for _ in range(3):
        make_ready_agreement(officer)
    with django_assert_num_queries(len(first.captured_queries)):
        page = browser.get(url, {"action": AuditAction.PARTY_ADDED})
    assert len(seqs(page)) == 8
