"""The receipt of a registration (ricevuta di registrazione): a PDF in the current language with
what was registered (register, number, date and time in Europe/Rome, subject, parties, the
impronta of the signed document and of each attachment, in hex and base64, the operator), the
annulment when there is one, and a QR code that leads to the public page of the registration,
where anyone can check it.

The receipt is rendered on demand from the registration's recorded values, which never change;
only the annulment mark can appear later.
"""

from __future__ import annotations

import io

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from reportlab.graphics import renderPDF
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from registry.models import hex_to_base64
from stipula.pdf import Styles, escape, rome

QR_SIZE = 32 * mm
MARGIN = 18 * mm
# Where the QR code is drawn on the first page (lower-left corner), in points.
QR_POSITION = (A4[0] - MARGIN - QR_SIZE, A4[1] - MARGIN - QR_SIZE)


def public_url(registration) -> str:
    """The absolute address of the registration's public page."""
    path = reverse(
        "registry_public:registration",
        kwargs={
            "code": registration.register.code,
            "year": registration.year,
            "number": registration.number,
        },
    )
    return settings.STIPULA_BASE_URL.rstrip("/") + path


def qr_drawing(value: str, size: float = QR_SIZE) -> Drawing:
    """A QR code of ``value`` (error correction M), ``size`` points wide, quiet zone included."""
    widget = QrCodeWidget(value, barLevel="M")
    x1, y1, x2, y2 = widget.getBounds()
    drawing = Drawing(size, size, transform=[size / (x2 - x1), 0, 0, size / (y2 - y1), -x1, -y1])
    drawing.add(widget)
    return drawing


def _size(size: int) -> str:
    return _("%(bytes)s bytes") % {"bytes": f"{size:,}".replace(",", ".")}


def render_receipt(registration) -> bytes:
    """The receipt PDF of ``registration``."""
    styles = Styles()
    url = public_url(registration)
    annulment = getattr(registration, "annulment", None)
    buffer = io.BytesIO()
    title = _("Registration receipt %(label)s") % {"label": registration.label}
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=title,
        author=settings.STIPULA_BASE_URL,
        subject=registration.subject,
        creator="Stipula",
    )

    def first_page(canvas, _document):
        canvas.saveState()
        renderPDF.draw(qr_drawing(url), canvas, *QR_POSITION)
        canvas.restoreState()

    label_width = 42 * mm
    value_width = A4[0] - 2 * MARGIN - label_width

    def row(label, value, style=None):
        return [Paragraph(escape(label), styles.label), Paragraph(value, style or styles.body)]

    header_width = A4[0] - 2 * MARGIN - QR_SIZE - 6 * mm
    header = Table(
        [
            [Paragraph(escape(_("Registration receipt")), styles.title)],
            [Paragraph(escape(registration.label), styles.title)],
            [Paragraph(escape(registration.register.name), styles.subtitle)],
            [
                Paragraph(
                    escape(_("Scan the code or open the address to verify the registration:")),
                    styles.small,
                )
            ],
            [Paragraph(escape(url), styles.small)],
        ],
        colWidths=[header_width],
        hAlign="LEFT",
        style=TableStyle([("LEFTPADDING", (0, 0), (-1, -1), 0)]),
    )
    story = [header, Spacer(1, 8 * mm)]
    if annulment is not None:
        story += [
            Paragraph(
                escape(_("ANNULLED on %(when)s") % {"when": rome(annulment.annulled_at)}),
                styles.annulled,
            ),
            Spacer(1, 2 * mm),
        ]
    parties = "<br/>".join(
        escape(f"{party['position']}. {party['name']}")
        + (
            escape(f" ({_('fiscal code')} {party['fiscal_code']})")
            if party.get("fiscal_code")
            else ""
        )
        for party in registration.parties
    )
    rows = [
        row(
            pgettext("noun", "Register"),
            escape(f"{registration.register.code} · {registration.register.name}"),
        ),
        row(
            _("Number"),
            escape(f"{registration.formatted_number}/{registration.year}"),
            styles.bold_body,
        ),
        row(_("Date and time"), escape(rome(registration.registered_at) + " (Europe/Rome)")),
        row(_("Subject"), escape(registration.subject)),
        row(_("Parties"), parties or "—"),
        row(
            _("Signed document"),
            escape(f"{registration.document_name} · {_size(registration.document_size)}"),
        ),
        row(_("Impronta SHA-256 (hex)"), escape(registration.document_sha256), styles.mono),
        row(
            _("Impronta SHA-256 (base64)"), escape(registration.document_sha256_base64), styles.mono
        ),
    ]
    for index, attachment in enumerate(registration.attachments, 1):
        rows += [
            row(
                _("Attachment %(number)d") % {"number": index},
                escape(f"{attachment['name']} · {_size(attachment['size'])}"),
            ),
            row(_("Impronta SHA-256 (hex)"), escape(attachment["sha256"]), styles.mono),
            row(
                _("Impronta SHA-256 (base64)"),
                escape(hex_to_base64(attachment["sha256"])),
                styles.mono,
            ),
        ]
    rows.append(row(_("Operator"), escape(registration.operator_name)))
    if annulment is not None:
        rows += [
            row(_("Annulled on"), escape(rome(annulment.annulled_at)), styles.bold_body),
            row(_("Reason"), escape(annulment.reason)),
            row(_("Authorised by"), escape(annulment.authorised_by)),
            row(_("Authorising act"), escape(annulment.authorising_act)),
            row(_("Annulled by"), escape(annulment.operator_name)),
        ]
    table = Table(rows, colWidths=[label_width, value_width], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#CCCCCC")),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    story += [
        table,
        Spacer(1, 6 * mm),
        Paragraph(
            escape(
                _(
                    "The impronta is the SHA-256 digest of the exact bytes of the registered "
                    "file: any copy whose digest is the same is the registered document. The "
                    "segnatura (XML, AgID format) of this registration is sealed by the system."
                )
            ),
            styles.small,
        ),
    ]
    document.build(story, onFirstPage=first_page)
    return buffer.getvalue()
