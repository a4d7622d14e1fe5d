"""The daily register (registro giornaliero di protocollo, RULES.md P9): for one Europe/Rome day,
every registration dated that day and every annulment and change made that day, with all their
values, as a PDF for people and a JSON file for machines. ``registry.services.
daily_register_produce`` stores both, records their SHA-256 in the audit trail and closes the day.

Produced automatically for every past day (the nightly Celery task ``registry.
produce_daily_registers`` and ``manage.py daily_register`` call ``produce_missing``), and on demand
for one day. Days without any registration, annulment or change get a register too, saying so:
every day from the first registration on is then closed and accounted for, and a missing register
is a gap anyone can see. ``overdue`` lists the days whose register was not produced by the end of
the next working day (Saturdays, Sundays and Italian public holidays are not working days,
registry.holidays).

The JSON format, ``stipula/registro-giornaliero/1`` (keys never change; UTF-8, sorted keys,
two-space indent, so the same content gives the same bytes)::

    {
      "format": "stipula/registro-giornaliero/1",
      "day": "2026-11-25",                  # the Europe/Rome day
      "timezone": "Europe/Rome",
      "produced_at": "2026-11-26T00:15:02Z",  # UTC
      "counts": {"registrations": 2, "annulments": 1, "changes": 1},
      "registrations": [                    # by register code, year, number
        {"register": "REP-CONV", "register_name": "...", "administration_code": "c_d704",
         "aoo_code": "...", "year": 2026, "number": "0000001",
         "registered_at": "2026-11-25T09:15:00Z",
         "registered_at_local": "2026-11-25T10:15:00+01:00",
         "date": "2026-11-25", "subject": "...",
         "parties": [{"position": 1, "name": "...", "kind": "public_body", "fiscal_code": "...",
                      "vat_number": "", "ipa_code": "..."}],
         "document": {"name": "...", "sha256": "<hex>", "sha256_base64": "...", "size": 1234},
         "attachments": [{"name": "...", "sha256": "<hex>", "sha256_base64": "...",
                          "size": 12, "mime_type": "application/pdf"}],
         "operator": "Name Surname",
         "classification": "...", "assigned_to": "...", "public_document": false,
         "segnatura_sha256": "<hex of the segnatura's UTF-8 bytes>",
         "annulled": false}                 # annulled by the end of the day
      ],
      "annulments": [                       # by time
        {"register": "REP-CONV", "year": 2026, "number": "0000001", "registration_date": "...",
         "subject": "...", "document_sha256": "<hex>", "annulled_at": "...Z",
         "annulled_at_local": "...+01:00", "reason": "...", "authorised_by": "...",
         "authorising_act": "...", "operator": "..."}
      ],
      "changes": [                          # by time
        {"register": "REP-CONV", "year": 2026, "number": "0000002", "registration_date": "...",
         "field": "classification", "old_value": "", "new_value": "I.6",
         "changed_at": "...Z", "changed_at_local": "...+01:00", "actor": "..."}
      ]
    }

Classification, assignment and publication of a registration are given as they stood at the end
of the day (from the registration's change history), so a register produced late says the same as
one produced on time. The PDF is a plain PDF (A4 landscape, fonts embedded), not PDF/A: no PDF/A
validator is available here to prove conformance.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from registry import holidays
from registry.models import (
    DailyRegister,
    Registration,
    RegistrationAnnulment,
    RegistrationChange,
    hex_to_base64,
)
from stipula.pdf import ROME, Styles, escape, rome

log = logging.getLogger(__name__)

FORMAT = "stipula/registro-giornaliero/1"


@dataclass
class DailyContent:
    """What the daily register of ``day`` lists (model instances, in their order)."""

    day: datetime.date
    registrations: list[Registration] = field(default_factory=list)
    annulments: list[RegistrationAnnulment] = field(default_factory=list)
    changes: list[RegistrationChange] = field(default_factory=list)


def _start_of(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(0), tzinfo=ROME)


def collect(day: datetime.date) -> DailyContent:
    """Registrations dated ``day`` (by register, year, number), and annulments and changes made
    on ``day`` (by time), all in Europe/Rome."""
    return DailyContent(
        day=day,
        registrations=list(
            Registration.objects.filter(registration_date=day)
            .select_related("register", "annulment")
            .prefetch_related("changes")
            .order_by("register__code", "year", "number")
        ),
        annulments=list(
            RegistrationAnnulment.objects.filter(annulment_date=day)
            .select_related("registration__register")
            .order_by("annulled_at", "pk")
        ),
        changes=list(
            RegistrationChange.objects.filter(change_date=day)
            .select_related("registration__register")
            .order_by("changed_at", "pk")
        ),
    )


# One record per entry, shared by the JSON and the PDF ---------------------------------------


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _local(moment: datetime.datetime) -> str:
    return moment.astimezone(ROME).isoformat(timespec="seconds")


def _value_at_end_of_day(registration: Registration, name: str, day: datetime.date):
    """The value of a changeable field at the end of ``day``, from the change history."""
    history = [c for c in registration.changes.all() if c.field == name]
    history.sort(key=lambda c: (c.changed_at, c.pk))
    if not history:
        return getattr(registration, name)
    until = _start_of(day + datetime.timedelta(days=1))
    done = [c for c in history if c.changed_at < until]
    text = done[-1].new_value if done else history[0].old_value
    if name == "public_document":
        return text == "True"
    return text


def _registration_record(registration: Registration, day: datetime.date) -> dict:
    register = registration.register
    annulment = getattr(registration, "annulment", None)
    return {
        "register": register.code,
        "register_name": register.name,
        "administration_code": register.administration_code,
        "aoo_code": register.aoo_code,
        "year": registration.year,
        "number": registration.formatted_number,
        "registered_at": _utc(registration.registered_at),
        "registered_at_local": _local(registration.registered_at),
        "date": registration.registration_date.isoformat(),
        "subject": registration.subject,
        "parties": list(registration.parties),
        "document": registration.document_facts,
        "attachments": [
            {
                "name": a["name"],
                "sha256": a["sha256"],
                "sha256_base64": hex_to_base64(a["sha256"]),
                "size": a["size"],
                "mime_type": a.get("mime_type", ""),
            }
            for a in registration.attachments
        ],
        "operator": registration.operator_name,
        "classification": _value_at_end_of_day(registration, "classification", day),
        "assigned_to": _value_at_end_of_day(registration, "assigned_to", day),
        "public_document": _value_at_end_of_day(registration, "public_document", day),
        "segnatura_sha256": hashlib.sha256(registration.segnatura.encode("utf-8")).hexdigest(),
        "annulled": annulment is not None and annulment.annulment_date <= day,
    }


def _annulment_record(annulment: RegistrationAnnulment) -> dict:
    registration = annulment.registration
    return {
        "register": registration.register.code,
        "year": registration.year,
        "number": registration.formatted_number,
        "registration_date": registration.registration_date.isoformat(),
        "subject": registration.subject,
        "document_sha256": registration.document_sha256,
        "annulled_at": _utc(annulment.annulled_at),
        "annulled_at_local": _local(annulment.annulled_at),
        "reason": annulment.reason,
        "authorised_by": annulment.authorised_by,
        "authorising_act": annulment.authorising_act,
        "operator": annulment.operator_name,
    }


def _change_record(change: RegistrationChange) -> dict:
    registration = change.registration
    return {
        "register": registration.register.code,
        "year": registration.year,
        "number": registration.formatted_number,
        "registration_date": registration.registration_date.isoformat(),
        "field": change.field,
        "old_value": change.old_value,
        "new_value": change.new_value,
        "changed_at": _utc(change.changed_at),
        "changed_at_local": _local(change.changed_at),
        "actor": change.actor_name,
    }


def records(content: DailyContent, *, produced_at: datetime.datetime) -> dict:
    """The daily register as data: what the JSON file holds and the PDF shows."""
    return {
        "format": FORMAT,
        "day": content.day.isoformat(),
        "timezone": "Europe/Rome",
        "produced_at": _utc(produced_at),
        "counts": {
            "registrations": len(content.registrations),
            "annulments": len(content.annulments),
            "changes": len(content.changes),
        },
        "registrations": [_registration_record(r, content.day) for r in content.registrations],
        "annulments": [_annulment_record(a) for a in content.annulments],
        "changes": [_change_record(c) for c in content.changes],
    }


def render_json(content: DailyContent, *, produced_at: datetime.datetime) -> bytes:
    data = records(content, produced_at=produced_at)
    return (json.dumps(data, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode("utf-8")


# PDF ---------------------------------------------------------------------------------------

_FIELD_LABELS = {
    "classification": lambda: _("classification"),
    "assigned_to": lambda: _("internal assignment"),
    "public_document": lambda: _("signed PDF published"),
}


def render_pdf(content: DailyContent, *, produced_at: datetime.datetime) -> bytes:
    data = records(content, produced_at=produced_at)
    styles = Styles()
    page = landscape(A4)
    margin = 12 * mm
    width = page[0] - 2 * margin
    day = content.day.strftime("%d/%m/%Y")
    title = _("Daily register of %(day)s") % {"day": day}
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=page,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin + 4 * mm,
        title=title,
        author=settings.STIPULA_BASE_URL,
        subject=_("Registro giornaliero di protocollo"),
        creator="Stipula",
    )

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont(styles.regular, 7.5)
        canvas.drawString(margin, margin - 2 * mm, title)
        canvas.drawRightString(
            page[0] - margin, margin - 2 * mm, _("page %(page)d") % {"page": doc.page}
        )
        canvas.restoreState()

    def p(text, style=None):
        return Paragraph(escape(text), style or styles.body)

    counts = data["counts"]
    story = [
        p(title, styles.title),
        p(
            _("Produced on %(when)s (Europe/Rome) · format %(format)s")
            % {"when": rome(produced_at), "format": FORMAT},
            styles.small,
        ),
        p(
            _("%(registrations)d registrations, %(annulments)d annulments, %(changes)d changes.")
            % counts,
            styles.subtitle,
        ),
        Spacer(1, 4 * mm),
        p(_("Registrations dated %(day)s") % {"day": day}, styles.heading),
    ]
    story.append(_registrations_table(data["registrations"], styles, width, p))
    story.append(p(_("Annulments made on %(day)s") % {"day": day}, styles.heading))
    story.append(_annulments_table(data["annulments"], styles, width, p))
    story.append(p(_("Changes made on %(day)s") % {"day": day}, styles.heading))
    story.append(_changes_table(data["changes"], styles, width, p))
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


_GRID = [
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black),
    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEEEEE")),
    ("LEFTPADDING", (0, 0), (-1, -1), 2),
    ("RIGHTPADDING", (0, 0), (-1, -1), 2),
    ("TOPPADDING", (0, 0), (-1, -1), 2),
    ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
]


def _table(rows, widths, extra=()):
    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle(_GRID + list(extra)))
    return table


def _none(p, text):
    return p(text)


def _number(entry, p, styles):
    """The number, then the register's code (on its own line: the column is narrow)."""
    return Paragraph(
        f"{escape(entry['number'])}/{entry['year']}<br/>"
        f"<font size=7.5>{escape(entry['register'])}</font>",
        styles.bold_body,
    )


def _registrations_table(entries, styles, width, p):
    if not entries:
        return _none(p, _("No registrations on this day."))
    widths = [w * width for w in (0.10, 0.06, 0.32, 0.26, 0.14, 0.12)]
    head = [
        p(label, styles.label)
        for label in (
            _("Number"),
            _("Time"),
            _("Subject"),
            _("Parties"),
            _("Classification"),
            _("Operator"),
        )
    ]
    rows, extra = [head], []
    for entry in entries:
        number = _number(entry, p, styles)
        if entry["annulled"]:
            number = [number, p(_("ANNULLED"), styles.annulled_mark)]
        rows.append(
            [
                number,
                p(entry["registered_at_local"][11:19]),
                p(entry["subject"]),
                p("\n".join(party["name"] for party in entry["parties"])),
                p(entry["classification"] or "—"),
                p(entry["operator"]),
            ]
        )
        lines = [
            f"{_('Document')}: {entry['document']['name']} · SHA-256 "
            f"{entry['document']['sha256']} · base64 {entry['document']['sha256_base64']}"
        ]
        lines += [
            f"{_('Attachment')}: {a['name']} · SHA-256 {a['sha256']} · base64 {a['sha256_base64']}"
            for a in entry["attachments"]
        ]
        rows.append([p("\n".join(lines), styles.mono), "", "", "", "", ""])
        index = len(rows) - 1
        extra += [
            ("SPAN", (0, index), (-1, index)),
            ("LINEBELOW", (0, index), (-1, index), 0.25, colors.HexColor("#BBBBBB")),
        ]
    return _table(rows, widths, extra)


def _annulments_table(entries, styles, width, p):
    if not entries:
        return _none(p, _("No annulments on this day."))
    widths = [w * width for w in (0.10, 0.06, 0.22, 0.22, 0.13, 0.14, 0.13)]
    head = [
        p(label, styles.label)
        for label in (
            _("Number"),
            _("Time"),
            _("Subject"),
            _("Reason"),
            _("Authorised by"),
            _("Authorising act"),
            _("Operator"),
        )
    ]
    rows = [head]
    for entry in entries:
        rows.append(
            [
                _number(entry, p, styles),
                p(entry["annulled_at_local"][11:19]),
                p(entry["subject"]),
                p(entry["reason"]),
                p(entry["authorised_by"]),
                p(entry["authorising_act"]),
                p(entry["operator"]),
            ]
        )
    return _table(rows, widths, [("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#BBBBBB"))])


def _changes_table(entries, styles, width, p):
    if not entries:
        return _none(p, _("No changes on this day."))
    widths = [w * width for w in (0.14, 0.07, 0.15, 0.25, 0.25, 0.14)]
    head = [
        p(label, styles.label)
        for label in (
            _("Number"),
            _("Time"),
            _("Field"),
            _("Old value"),
            _("New value"),
            _("Changed by"),
        )
    ]
    rows = [head]
    for entry in entries:
        label = _FIELD_LABELS.get(entry["field"])
        rows.append(
            [
                _number(entry, p, styles),
                p(entry["changed_at_local"][11:19]),
                p(label() if label else entry["field"]),
                p(entry["old_value"] or "—"),
                p(entry["new_value"] or "—"),
                p(entry["actor"]),
            ]
        )
    return _table(rows, widths, [("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#BBBBBB"))])


# Producing and deadlines -------------------------------------------------------------------


def _today() -> datetime.date:
    return timezone.localtime(timezone.now(), ROME).date()


def _first_day() -> datetime.date | None:
    first = Registration.objects.order_by("registration_date").values_list(
        "registration_date", flat=True
    )
    return first.first()


def _days(start: datetime.date, end: datetime.date):
    day = start
    while day <= end:
        yield day
        day += datetime.timedelta(days=1)


def produce_missing() -> list[DailyRegister]:
    """Produce, as the system (actor None), the register of every day from the first
    registration's day up to yesterday (Europe/Rome) that has none yet, oldest first. A day
    another process produced meanwhile is skipped."""
    from registry.services import daily_register_produce
    from stipula.errors import ValidationFailed

    first = _first_day()
    if first is None:
        return []
    yesterday = _today() - datetime.timedelta(days=1)
    existing = set(
        DailyRegister.objects.filter(day__gte=first, day__lte=yesterday).values_list(
            "day", flat=True
        )
    )
    produced = []
    for day in _days(first, yesterday):
        if day in existing:
            continue
        try:
            produced.append(daily_register_produce(actor=None, day=day))
        except (ValidationFailed, IntegrityError):
            if not DailyRegister.objects.filter(day=day).exists():
                raise
            log.info("The daily register of %s was produced meanwhile elsewhere.", day)
    return produced


def overdue(*, today: datetime.date | None = None) -> list[datetime.date]:
    """Days (from the first registration's day) whose register was not produced by the end of
    the next working day: missing once that day is over, or produced after it."""
    first = _first_day()
    if first is None:
        return []
    today = today or _today()
    produced = {
        day: timezone.localtime(produced_at, ROME).date()
        for day, produced_at in DailyRegister.objects.filter(day__gte=first).values_list(
            "day", "produced_at"
        )
    }
    late = []
    for day in _days(first, today - datetime.timedelta(days=1)):
        due = holidays.next_working_day(day)
        when = produced.get(day)
        if (when is None and today > due) or (when is not None and when > due):
            late.append(day)
    return late
