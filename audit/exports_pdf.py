"""The PDF report of a selection of the audit log (audit.exports, format "pdf").

Drawn row by row on a reportlab canvas as the batches arrive: the rows are not kept, only the
finished pages, which reportlab holds (compressed) until the file is written. That is why the
report lists at most ``settings.STIPULA_AUDIT_PDF_MAX_ROWS`` events and says so on its first page
when the selection has more (the CSV and JSON Lines exports have no limit).
"""

from contextlib import closing
from datetime import UTC

from django.conf import settings
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen import canvas

from audit.models import AuditAction
from stipula.pdf import fonts

DEFAULT_MAX_ROWS = 20_000
_MARGIN = 12 * mm
_ROW = 11
_FONT_SIZE = 7


def _fit(text: str, font: str, size: float, width: float) -> str:
    """``text`` on one line, cut with an ellipsis to fit ``width``."""
    text = " ".join(str(text).split())
    if stringWidth(text, font, size) <= width:
        return text
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if stringWidth(text[:middle] + "…", font, size) <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low] + "…"


_LABELS = dict(AuditAction.choices)


class _Report:
    def __init__(self, out, filters, total: int, limit: int):
        self.regular, self.bold, self.mono = fonts()
        self.width, self.height = landscape(A4)
        self.canvas = canvas.Canvas(out, pagesize=landscape(A4), pageCompression=1)
        self.canvas.setTitle(_("Audit log report"))
        self.canvas.setCreator("Stipula")
        self.filters = filters
        self.total = total
        self.limit = limit
        self.page = 0
        self.y = 0.0
        usable = self.width - 2 * _MARGIN
        # (heading, share of the width)
        self.columns = [
            (_("No."), 0.06),
            (_("Time"), 0.11),
            (_("Actor"), 0.12),
            (_("Action"), 0.17),
            (_("Object"), 0.13),
            (_("Agreement"), 0.075),
            (_("Details"), 0.255),
            (_("Hash"), 0.08),
        ]
        self.widths = [usable * share for _heading, share in self.columns]

    def _new_page(self) -> None:
        if self.page:
            self.canvas.showPage()
        self.page += 1
        c = self.canvas
        c.setFont(self.bold, 10)
        c.drawString(_MARGIN, self.height - _MARGIN, _("Stipula: audit log report"))
        c.setFont(self.regular, 7)
        c.drawRightString(
            self.width - _MARGIN,
            self.height - _MARGIN,
            _("Page %(page)d") % {"page": self.page},
        )
        self.y = self.height - _MARGIN - 14
        if self.page == 1:
            self._summary()
        self._heading()

    def _line(self, text: str, *, font=None, size=8) -> None:
        self.canvas.setFont(font or self.regular, size)
        self.canvas.drawString(_MARGIN, self.y, text)
        self.y -= size + 4

    def _summary(self) -> None:
        from audit.checkpoints import latest_checkpoint

        now = timezone.localtime()
        self._line(
            _("Produced on %(when)s") % {"when": formats.date_format(now, "DATETIME_FORMAT")}
        )
        criteria = self.filters.to_dict()
        described = ", ".join(f"{key}: {value}" for key, value in criteria.items())
        self._line(_("Selection: %(filters)s") % {"filters": described or _("the whole log")})
        self._line(_("Events selected: %(count)d") % {"count": self.total})
        if self.total > self.limit:
            self._line(
                _(
                    "This report lists the first %(limit)d of them: export the selection as CSV "
                    "or JSON Lines for every event."
                )
                % {"limit": self.limit},
                font=self.bold,
            )
        checkpoint = latest_checkpoint()
        if checkpoint is not None:
            stamped = (
                formats.date_format(
                    timezone.localtime(checkpoint.timestamp_time), "DATETIME_FORMAT"
                )
                if checkpoint.timestamp_time
                else _("not timestamped")
            )
            self._line(
                _(
                    "Latest checkpoint: #%(number)d over events 1 to %(size)d, Merkle root "
                    "%(root)s; timestamp: %(stamped)s"
                )
                % {
                    "number": checkpoint.number,
                    "size": checkpoint.tree_size,
                    "root": checkpoint.root_hash,
                    "stamped": stamped,
                }
            )
        self._line(
            _(
                "Times in %(zone)s. The hash of each event is abbreviated; an audit bundle "
                "(manage.py audit_bundle) lets anyone verify the events offline."
            )
            % {"zone": settings.TIME_ZONE}
        )
        self.y -= 4

    def _heading(self) -> None:
        c = self.canvas
        c.setFillColor(colors.HexColor("#e8e8e8"))
        c.rect(_MARGIN, self.y - 3, sum(self.widths), _ROW, stroke=0, fill=1)
        c.setFillColor(colors.black)
        c.setFont(self.bold, _FONT_SIZE)
        x = _MARGIN
        for (heading, _share), width in zip(self.columns, self.widths, strict=True):
            c.drawString(x + 1, self.y, _fit(heading, self.bold, _FONT_SIZE, width - 3))
            x += width
        self.y -= _ROW

    def row(self, row: tuple) -> None:
        if self.page == 0 or self.y < _MARGIN:
            self._new_page()
        (
            seq,
            created_at,
            _actor_id,
            actor_username,
            actor_role,
            action,
            object_type,
            object_id,
            agreement_id,
            payload,
            _documents,
            reason,
            _request_id,
            _prev_hash,
            hash_,
        ) = row
        when = timezone.localtime(created_at.replace(tzinfo=UTC))
        if actor_username and actor_role:
            actor = f"{actor_username} ({actor_role})"
        else:
            actor = actor_username or actor_role
        details = payload if payload != "{}" else ""
        if reason:
            details = f"{reason} {details}".strip()
        cells = [
            str(seq),
            when.strftime("%d/%m/%Y %H:%M:%S"),
            actor,
            str(_LABELS.get(action, action)),
            f"{object_type} {object_id}".strip(),
            "" if agreement_id is None else str(agreement_id),
            details,
            hash_[:12],
        ]
        c = self.canvas
        x = _MARGIN
        for index, (text, width) in enumerate(zip(cells, self.widths, strict=True)):
            font = self.mono if index == len(cells) - 1 else self.regular
            c.setFont(font, _FONT_SIZE)
            c.drawString(x + 1, self.y, _fit(text, font, _FONT_SIZE, width - 3))
            x += width
        self.y -= _ROW

    def finish(self) -> None:
        if self.page == 0:
            self._new_page()
            self._line(_("No event matches the selection."))
        self.canvas.save()


def write_pdf_report(out, filters, *, total: int, batch_size: int, tick) -> int:
    """Draw the selected events (at most STIPULA_AUDIT_PDF_MAX_ROWS) into ``out``; returns how
    many rows the report lists."""
    from audit.exports import iter_events

    limit = getattr(settings, "STIPULA_AUDIT_PDF_MAX_ROWS", DEFAULT_MAX_ROWS)
    report = _Report(out, filters, total, limit)
    rows = 0
    with closing(iter_events(filters, batch_size=batch_size)) as batches:
        for batch in batches:
            for row in batch[: limit - rows]:
                report.row(row)
            rows += min(len(batch), limit - rows)
            tick(rows)
            if rows >= limit:
                break
    report.finish()
    return rows
