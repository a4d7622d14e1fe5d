"""What every PDF Stipula composes with reportlab shares: embedded fonts, styles, escaping, tables
and the page furniture (signature reports, procedure reports, audit exports, receipts, daily
registers).

Fonts are always embedded TrueType fonts, never the PDF standard fonts, so the documents read the
same anywhere and years later: DejaVu Sans when it is installed (it has almost every character a
name can hold), else the Bitstream Vera fonts that reportlab ships (Latin-1).
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from zoneinfo import ZoneInfo

import reportlab
from django.utils import translation
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

ROME = ZoneInfo("Europe/Rome")
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_VERA = Path(reportlab.__file__).resolve().parent / "fonts"


@functools.cache
def fonts() -> tuple[str, str, str]:
    """Names of the regular, bold and monospaced fonts, registered with reportlab."""
    candidates = [
        {
            "StipulaSans": _DEJAVU / "DejaVuSans.ttf",
            "StipulaSans-Bold": _DEJAVU / "DejaVuSans-Bold.ttf",
            "StipulaMono": _DEJAVU / "DejaVuSansMono.ttf",
        },
        {
            "StipulaSans": _VERA / "Vera.ttf",
            "StipulaSans-Bold": _VERA / "VeraBd.ttf",
            "StipulaMono": _VERA / "Vera.ttf",
        },
    ]
    for files in candidates:
        if all(path.exists() for path in files.values()):
            for name, path in files.items():
                pdfmetrics.registerFont(TTFont(name, str(path)))
            return "StipulaSans", "StipulaSans-Bold", "StipulaMono"
    raise RuntimeError("No TrueType font to embed: install fonts-dejavu-core.")


class Styles:
    def __init__(self):
        regular, bold, mono = fonts()
        self.regular, self.bold, self.mono_font = regular, bold, mono
        self.title = ParagraphStyle("title", fontName=bold, fontSize=16, leading=20)
        self.subtitle = ParagraphStyle("subtitle", fontName=regular, fontSize=12, leading=16)
        self.heading = ParagraphStyle(
            "heading",
            fontName=bold,
            fontSize=11,
            leading=14,
            spaceBefore=8,
            spaceAfter=4,
            keepWithNext=1,
        )
        self.body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=12)
        self.bold_body = ParagraphStyle("bold_body", parent=self.body, fontName=bold)
        self.label = ParagraphStyle(
            "label", parent=self.body, fontName=bold, textColor=colors.HexColor("#444444")
        )
        self.mono = ParagraphStyle(
            "mono", fontName=mono, fontSize=7.5, leading=10, alignment=TA_LEFT
        )
        self.small = ParagraphStyle(
            "small", parent=self.body, fontSize=8, leading=10, textColor=colors.HexColor("#555555")
        )
        self.annulled_mark = ParagraphStyle(
            "annulled_mark", parent=self.bold_body, textColor=colors.HexColor("#B00020")
        )
        self.annulled = ParagraphStyle(
            "annulled", fontName=bold, fontSize=12, leading=15, textColor=colors.HexColor("#B00020")
        )


def escape(value) -> str:
    """Plain text made safe for reportlab's Paragraph mark-up (which reads <, > and &)."""
    return (
        str(value if value is not None else "")
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace("\n", "<br/>")
    )


def rome(moment) -> str:
    return moment.astimezone(ROME).strftime("%d/%m/%Y %H:%M:%S")


def grid(header: list[str], rows: list[list], widths: list[float], styles: Styles) -> Table:
    """A table with a header row repeated on every page."""
    data = [[Paragraph(escape(h), styles.label) for h in header]]
    data += [[Paragraph(escape(cell), styles.body) for cell in row] for row in rows]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, 0), 0.75, colors.HexColor("#888888")),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, colors.HexColor("#dddddd")),
                ("LEFTPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table


def build(story: list, *, title: str, author: str = "Stipula") -> bytes:
    """An A4 document of ``story`` with page numbers, in the active language."""
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=title,
        author=author,
        creator="Stipula",
        lang=translation.get_language() or "",
    )
    regular = fonts()[0]

    def page_number(canvas, doc):
        canvas.saveState()
        canvas.setFont(regular, 8)
        canvas.drawRightString(
            A4[0] - 18 * mm, 10 * mm, _("Page %(number)d") % {"number": doc.page}
        )
        canvas.restoreState()

    document.build(story, onFirstPage=page_number, onLaterPages=page_number)
    return buffer.getvalue()
