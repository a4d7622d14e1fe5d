"""Exports of a selection of the log: CSV, JSON Lines and the PDF report, streamed in batches,
with progress, and recorded as AUDIT_EXPORTED when the auditor is known."""

import csv
import hashlib
import io
import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from audit.exports import EventFilter, export_to
from audit.models import AuditAction, AuditEvent
from audit.services import record_event
from stipula.errors import PermissionDenied, ValidationFailed
from tests.audit.conftest import write_events
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def auditor(db):
    return make_user("revisore", "auditor", first_name="Paolo", last_name="Conti")


@pytest.fixture
def mixed_log(officer):
    """Events of two agreements by two actors, and system events."""
    write_events(5, agreement_id=7)
    with transaction.atomic():
        for i in range(4):
            record_event(
                actor=officer,
                action=AuditAction.APPROVED if i % 2 else AuditAction.AGREEMENT_UPDATED,
                object_type="agreements.agreement",
                object_id="8",
                agreement_id=8,
                role="legal_officer",
                payload={"i": i, "nota": "Città «Forlì»"},
                reason=["", "motivo, con virgola", 'a "b"\r\nc', "x"][i],
            )
    write_events(3)


def test_csv_export_has_every_selected_event_and_is_recorded_with_its_hash(mixed_log, auditor):
    out = io.BytesIO()
    result = export_to(out, "csv", EventFilter(agreement_id=8), actor=auditor)
    data = out.getvalue()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    stored = AuditEvent.objects.filter(agreement_id=8).order_by("seq")
    assert [int(row["seq"]) for row in rows] == [event.seq for event in stored]
    assert rows[1]["reason"] == "motivo, con virgola"
    assert rows[2]["reason"] == 'a "b"\r\nc'
    # The file is what the csv module would write.
    expected = io.StringIO()
    writer = csv.writer(expected, lineterminator="\r\n")
    writer.writerow(rows[0].keys())
    writer.writerows(row.values() for row in rows)
    assert data.decode("utf-8-sig") == expected.getvalue()
    assert json.loads(rows[0]["payload"]) == {"i": 0, "nota": "Città «Forlì»"}
    assert rows[0]["hash"] == stored[0].hash and rows[0]["actor_username"] == "officer"

    assert result.rows == 4 and result.sha256 == hashlib.sha256(data).hexdigest()
    event = AuditEvent.objects.get(seq=result.event_seq)
    assert event.action == AuditAction.AUDIT_EXPORTED and event.actor_username == "revisore"
    assert event.payload_data == {
        "format": "csv",
        "filters": {"agreement_id": 8},
        "rows": 4,
        "sha256": result.sha256,
        "bytes": len(data),
    }


def test_jsonl_export_filters_by_actor_action_and_period(mixed_log, auditor):
    approved = AuditEvent.objects.filter(action=AuditAction.APPROVED).order_by("seq")
    start = approved[0].created_at - timedelta(microseconds=1)
    filters = EventFilter(
        actor_username="officer",
        actions=(AuditAction.APPROVED,),
        date_from=start,
        date_to=timezone.now() + timedelta(days=1),
    )
    out = io.BytesIO()
    result = export_to(out, "jsonl", filters, actor=auditor)
    lines = [json.loads(line) for line in out.getvalue().decode().split("\n")[:-1]]
    assert [line["seq"] for line in lines] == [event.seq for event in approved]
    assert lines[0]["payload"] == {"i": 1, "nota": "Città «Forlì»"}
    assert lines[0]["created_at"].endswith("Z") and lines[0]["hash"] == approved[0].hash
    assert result.filters["actions"] == ["agreement.approved"]


def test_a_date_means_the_whole_day_in_rome():
    today = timezone.localdate()
    filters = EventFilter(date_from=today, date_to=today)
    assert filters.end - filters.start == timedelta(days=1)
    assert timezone.localtime(filters.start).hour == 0
    with pytest.raises(ValidationFailed, match="Unknown audit action"):
        EventFilter(actions=("agreement.dreamt",))
    with pytest.raises(ValidationFailed, match="end of the period comes before its start"):
        EventFilter(date_from=today, date_to=today - timedelta(days=2))


def test_exports_stream_in_batches_with_progress_and_constant_queries(
    auditor, django_assert_max_num_queries
):
    write_events(25)
    calls = []
    out = io.BytesIO()
    # The count, then 25 rows in batches of 10: 3 batches and the empty one that ends the walk
    # (on PostgreSQL the batches come through a psycopg cursor, outside Django's query log).
    with django_assert_max_num_queries(5):
        result = export_to(
            out,
            "jsonl",
            EventFilter(),
            progress=lambda done, total: calls.append((done, total)),
            batch_size=10,
        )
    assert result.rows == 25 and result.event_seq is None  # no actor: nothing recorded
    assert calls == [(0, 25), (10, 25), (20, 25), (25, 25)]


def test_the_pdf_report_lists_the_selection(mixed_log, auditor, settings):
    from pypdf import PdfReader

    out = io.BytesIO()
    result = export_to(out, "pdf", EventFilter(agreement_id=8), actor=auditor)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(out.getvalue())).pages)
    assert "audit log report" in text and "Events selected: 4" in text
    assert "Approved" in text and "officer (legal_officer)" in text
    assert result.rows == 4 and out.getvalue().startswith(b"%PDF")


def test_a_pdf_report_of_a_large_selection_says_it_lists_only_the_first_events(auditor, settings):
    from pypdf import PdfReader

    settings.STIPULA_AUDIT_PDF_MAX_ROWS = 5
    write_events(8)
    out = io.BytesIO()
    result = export_to(out, "pdf", EventFilter(), actor=auditor)
    text = PdfReader(io.BytesIO(out.getvalue())).pages[0].extract_text()
    assert "lists the first 5 of them" in text and result.rows == 5


def test_only_auditors_and_administrators_export(mixed_log, officer):
    with pytest.raises(PermissionDenied, match="Only auditors and administrators"):
        export_to(io.BytesIO(), "csv", EventFilter(), actor=officer)
    refusal = AuditEvent.objects.order_by("-seq").first()
    assert refusal.action == AuditAction.ACTION_REFUSED and refusal.actor_username == "officer"
    assert refusal.payload_data["attempted"] == "audit.export"
    with pytest.raises(ValidationFailed, match="Unknown export format"):
        export_to(io.BytesIO(), "xls", EventFilter())


def test_the_command_line_export_shows_progress_and_records_the_auditor(
    mixed_log, auditor, tmp_path, capsys
):
    path = tmp_path / "log.csv"
    call_command(
        "audit_export",
        format="csv",
        agreement=8,
        output=str(path),
        by="revisore",
    )
    captured = capsys.readouterr()
    assert "Exported 4 events to" in captured.out
    assert "4/4" in captured.err and "100%" in captured.err
    event = AuditEvent.objects.order_by("-seq").first()
    assert event.action == AuditAction.AUDIT_EXPORTED
    assert event.payload_data["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
