"""The daily register (RULES.md P9): what it lists, its two files and their hashes in the audit
trail, the closing of the day, the nightly production of missing days and the deadlines.

The first test runs on agreements signed for real. The calendar tests need registrations on other
days than today: there the clock (the one thing outside the system) is set, as in
test_services.py, and the agreements are tests/registry/helpers.py's quick ones; the registry's
services run for real.
"""

import datetime
import hashlib
import json
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.utils import timezone

from agreements.models import AgreementState
from agreements.storage import read_bytes
from audit.models import AuditAction, AuditEvent
from registry import daily
from registry.models import DailyRegister, Registration
from registry.services import (
    Attachment,
    daily_register_produce,
    registration_annul,
    registration_change,
    registration_register,
)
from registry.tasks import produce_daily_registers
from stipula.errors import TransitionNotAllowed
from tests.registry.helpers import quick_signed_agreements
from tests.registry.test_receipt import pdf_text

pytestmark = pytest.mark.django_db

ROME = ZoneInfo("Europe/Rome")


def rome_today() -> datetime.date:
    return timezone.localtime(timezone.now(), ROME).date()


def test_a_day_with_registrations_an_annulment_and_a_change(
    signed_agreement, registrar, register, tmp_path
):
    first = signed_agreement(
        subject="Patto <per> l'inclusione & «coesione»",
        parties=["Comune di Forlì & Co.", "Cooperativa «Aurora»"],
    )
    second = signed_agreement(subject="Convenzione per i tirocini")
    late = signed_agreement(subject="Convenzione arrivata tardi")
    one = registration_register(
        actor=registrar,
        agreement=first,
        register=register,
        attachments=[Attachment("Allegato «A».pdf", b"%PDF-1.4 allegato A", "application/pdf")],
    )
    two = registration_register(actor=registrar, agreement=second, register=register)
    registration_annul(
        actor=registrar,
        registration=two,
        reason="Doppia registrazione per errore",
        authorised_by="Dott. Paolo Neri",
        authorising_act="Determina n. 7/2026",
    )
    registration_change(
        actor=registrar, registration=one, classification="I.6 - Contratti e convenzioni"
    )
    today = rome_today()

    content = daily.collect(today)
    produced = daily_register_produce(actor=registrar, day=today)

    assert [r.number for r in content.registrations] == [1, 2]
    assert [a.registration_id for a in content.annulments] == [two.pk]
    assert [(c.field, c.old_value, c.new_value) for c in content.changes] == [
        ("classification", "", "I.6 - Contratti e convenzioni")
    ]
    # The row: counts, deadline and the hashes of the stored files.
    assert (produced.registrations, produced.annulments, produced.changes) == (2, 1, 1)
    pdf = read_bytes(produced.pdf_file)
    json_bytes = read_bytes(produced.json_file)
    assert produced.pdf_sha256 == hashlib.sha256(pdf).hexdigest()
    assert produced.json_sha256 == hashlib.sha256(json_bytes).hexdigest()
    assert produced.due_by > today
    assert produced.produced_by == registrar
    # The audit event names both documents with their hashes.
    [event] = AuditEvent.objects.filter(action=AuditAction.DAILY_REGISTER_PRODUCED)
    assert event.actor_username == registrar.username
    assert event.payload_data["day"] == today.isoformat()
    assert [d["sha256"] for d in event.document_list] == [
        produced.pdf_sha256,
        produced.json_sha256,
    ]
    # The JSON lists everything with its values.
    data = json.loads(json_bytes)
    assert data["format"] == "stipula/registro-giornaliero/1"
    assert data["day"] == today.isoformat()
    assert data["counts"] == {"registrations": 2, "annulments": 1, "changes": 1}
    reg_one, reg_two = data["registrations"]
    assert (reg_one["register"], reg_one["number"], reg_one["year"]) == (
        "REP-CONV",
        "0000001",
        today.year,
    )
    assert reg_one["subject"] == "Patto <per> l'inclusione & «coesione»"
    assert [p["name"] for p in reg_one["parties"]] == [
        "Comune di Forlì & Co.",
        "Cooperativa «Aurora»",
    ]
    assert (
        reg_one["document"]["sha256"] == hashlib.sha256(read_bytes(one.document_file)).hexdigest()
    )
    assert reg_one["document"]["sha256_base64"] == one.document_sha256_base64
    assert [a["sha256"] for a in reg_one["attachments"]] == [
        hashlib.sha256(b"%PDF-1.4 allegato A").hexdigest()
    ]
    assert reg_one["classification"] == "I.6 - Contratti e convenzioni"
    assert reg_one["operator"] == "Giovanna Protocolli"
    assert reg_one["annulled"] is False
    assert reg_one["segnatura_sha256"] == hashlib.sha256(one.segnatura.encode()).hexdigest()
    assert reg_two["number"] == "0000002"
    assert reg_two["annulled"] is True
    [annulment] = data["annulments"]
    assert annulment["number"] == "0000002"
    assert annulment["reason"] == "Doppia registrazione per errore"
    assert annulment["authorised_by"] == "Dott. Paolo Neri"
    assert annulment["authorising_act"] == "Determina n. 7/2026"
    [change] = data["changes"]
    assert (change["number"], change["field"], change["new_value"]) == (
        "0000001",
        "classification",
        "I.6 - Contratti e convenzioni",
    )
    # The same content and time give the same bytes.
    assert daily.render_json(content, produced_at=produced.produced_at) == json_bytes
    # The PDF says the same to people.
    text = " ".join(pdf_text(pdf, tmp_path).split())
    assert f"Daily register of {today.strftime('%d/%m/%Y')}" in text
    assert "2 registrations, 1 annulments, 1 changes" in text
    assert f"0000001/{today.year} REP-CONV" in text
    assert f"0000002/{today.year} REP-CONV ANNULLED" in text
    assert "Patto <per> l'inclusione & «coesione»" in text
    assert "Comune di Forlì & Co." in text
    assert one.document_sha256 in text
    assert one.document_sha256_base64 in text
    assert two.document_sha256 in text
    assert reg_one["attachments"][0]["sha256"] in text
    assert "Doppia registrazione per errore" in text
    assert "Determina n. 7/2026" in text
    assert "I.6 - Contratti e convenzioni" in text
    assert "ANNULLED" in text

    # Today is closed: nothing more is registered with today's date, and no number is used.
    with pytest.raises(TransitionNotAllowed) as refused:
        registration_register(actor=registrar, agreement=late, register=register)
    assert str(refused.value) == (
        f"The daily register of {today.strftime('%d/%m/%Y')} is closed: nothing more can be "
        "recorded with that date. Try again tomorrow, or ask the registry's manager."
    )
    late.refresh_from_db()
    assert late.state == AgreementState.SIGNED
    assert Registration.objects.count() == 2
    assert register.counters.get(year=today.year).last_number == 2


def test_an_empty_day_says_so(tmp_path):
    day = datetime.date(2026, 4, 25)
    content = daily.collect(day)
    produced_at = datetime.datetime(2026, 4, 27, 6, 0, tzinfo=datetime.UTC)

    data = json.loads(daily.render_json(content, produced_at=produced_at))
    text = " ".join(pdf_text(daily.render_pdf(content, produced_at=produced_at), tmp_path).split())

    assert data == {
        "format": "stipula/registro-giornaliero/1",
        "day": "2026-04-25",
        "timezone": "Europe/Rome",
        "produced_at": "2026-04-27T06:00:00Z",
        "counts": {"registrations": 0, "annulments": 0, "changes": 0},
        "registrations": [],
        "annulments": [],
        "changes": [],
    }
    assert "Daily register of 25/04/2026" in text
    assert "Produced on 27/04/2026 08:00:00 (Europe/Rome)" in text
    assert "No registrations on this day." in text
    assert "No annulments on this day." in text
    assert "No changes on this day." in text


# Other days: the clock is set --------------------------------------------------------------


@pytest.fixture
def clock(monkeypatch):
    """Set the time everything reads (django.utils.timezone.now); ``clock.at(None)`` gives the
    real time back."""
    real_now = timezone.now

    class Clock:
        moment = None

        def at(self, moment):
            self.moment = moment

    clock = Clock()
    monkeypatch.setattr(
        "django.utils.timezone.now", lambda: clock.moment if clock.moment else real_now()
    )
    return clock


def _rome(day: datetime.date, hour: int) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(hour), tzinfo=ROME)


def test_missing_days_are_produced_up_to_yesterday_empty_days_included(
    officer, registrar, register, clock
):
    today = rome_today()
    three_days_ago = today - datetime.timedelta(days=3)
    yesterday = today - datetime.timedelta(days=1)
    a, b, c = quick_signed_agreements(officer, 3)
    clock.at(_rome(three_days_ago, 10))
    old = registration_register(actor=registrar, agreement=a, register=register)
    clock.at(_rome(yesterday, 17))
    registration_register(actor=registrar, agreement=b, register=register)
    registration_change(actor=registrar, registration=old, assigned_to="Ufficio contratti")
    clock.at(None)
    registration_register(actor=registrar, agreement=c, register=register)

    produced = produce_daily_registers()

    assert produced == [
        three_days_ago.isoformat(),
        (three_days_ago + datetime.timedelta(days=1)).isoformat(),
        yesterday.isoformat(),
    ]
    registers = {r.day: r for r in DailyRegister.objects.all()}
    assert set(registers) == {
        three_days_ago,
        three_days_ago + datetime.timedelta(days=1),
        yesterday,
    }
    assert [
        (registers[day].registrations, registers[day].changes, registers[day].produced_by_name)
        for day in sorted(registers)
    ] == [(1, 0, "system"), (0, 0, "system"), (1, 1, "system")]
    # The register of three days ago shows the assignment as it was then, not as it is now.
    [entry] = json.loads(read_bytes(registers[three_days_ago].json_file))["registrations"]
    assert entry["assigned_to"] == ""
    [entry] = json.loads(read_bytes(registers[yesterday].json_file))["registrations"]
    assert entry["number"] == "0000002"
    events = AuditEvent.objects.filter(action=AuditAction.DAILY_REGISTER_PRODUCED)
    assert events.count() == 3
    assert {e.actor_role for e in events} == {"system"}
    # Nothing left to do; today stays open.
    assert daily.produce_missing() == []
    assert not DailyRegister.objects.filter(day=today).exists()


def test_the_command_produces_a_day_or_what_is_missing(officer, registrar, register, clock):
    today = rome_today()
    [agreement] = quick_signed_agreements(officer, 1)
    clock.at(_rome(today - datetime.timedelta(days=2), 9))
    registration_register(actor=registrar, agreement=agreement, register=register)
    clock.at(None)

    out = _command()
    assert out.count("registrations") == 2
    assert f"{(today - datetime.timedelta(days=2)).isoformat()}: 1 registrations" in out
    assert "Nothing to produce" in _command()


def _command(*args) -> str:
    import io

    buffer = io.StringIO()
    call_command("daily_register", *args, stdout=buffer)
    return buffer.getvalue()


def test_overdue_counts_working_days_and_holidays(officer, registrar, register, clock):
    """Friday 26 March 2027: the next working day is Tuesday 30, after Easter Monday."""
    friday = datetime.date(2027, 3, 26)
    [agreement] = quick_signed_agreements(officer, 1)
    clock.at(_rome(friday, 11))
    registration_register(actor=registrar, agreement=agreement, register=register)
    # Friday's register is produced on Tuesday, on time.
    clock.at(_rome(datetime.date(2027, 3, 30), 9))
    on_time = daily_register_produce(actor=None, day=friday)

    assert on_time.due_by == datetime.date(2027, 3, 30)
    # Saturday, Sunday and Easter Monday are due by the end of Tuesday too.
    assert daily.overdue(today=datetime.date(2027, 3, 30)) == []
    assert daily.overdue(today=datetime.date(2027, 3, 31)) == [
        datetime.date(2027, 3, 27),
        datetime.date(2027, 3, 28),
        datetime.date(2027, 3, 29),
    ]
    # Saturday's is produced on Wednesday: late, and it stays so.
    clock.at(_rome(datetime.date(2027, 3, 31), 9))
    late = daily_register_produce(actor=None, day=datetime.date(2027, 3, 27))

    assert late.due_by == datetime.date(2027, 3, 30)
    assert daily.overdue(today=datetime.date(2027, 3, 31)) == [
        datetime.date(2027, 3, 27),  # produced after its deadline
        datetime.date(2027, 3, 28),
        datetime.date(2027, 3, 29),
    ]
    # Tuesday's own register is due on Wednesday: not late until Wednesday is over.
    assert datetime.date(2027, 3, 30) not in daily.overdue(today=datetime.date(2027, 3, 31))
    assert datetime.date(2027, 3, 30) in daily.overdue(today=datetime.date(2027, 4, 1))


def test_no_registration_yet_means_nothing_to_produce_or_chase():
    assert daily.produce_missing() == []
    assert daily.overdue() == []
