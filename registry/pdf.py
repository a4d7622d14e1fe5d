"""What the registry's PDFs (the receipt, the daily register) share: embedded fonts and styles.

Fonts are always embedded TrueType fonts, never the PDF standard fonts, so the documents read the
same anywhere and years later: DejaVu Sans when it is installed (it has almost every character a
name can hold), else the Bitstream Vera fonts that reportlab ships (Latin-1).
"""

from __future__ import annotations

import functools
from pathlib import Path
from zoneinfo import ZoneInfo

import reportlab
from reportlab.lib import colors
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

ROME = ZoneInfo("Europe/Rome")
_DEJAVU = Path("/usr/share/fonts/truetype/dejavu")
_VERA = Path(reportlab.__file__).resolve().parent / "fonts"


@functools.cache
def fonts() -> tuple[str, str, str]:
    """Names of the regular, bold and monospaced fonts, registered with reportlab."""
    candidates = [
        {
            "RegistrySans": _DEJAVU / "DejaVuSans.ttf",
            "RegistrySans-Bold": _DEJAVU / "DejaVuSans-Bold.ttf",
            "RegistryMono": _DEJAVU / "DejaVuSansMono.ttf",
        },
        {
            "RegistrySans": _VERA / "Vera.ttf",
            "RegistrySans-Bold": _VERA / "VeraBd.ttf",
            "RegistryMono": _VERA / "Vera.ttf",
        },
    ]
    for files in candidates:
        if all(path.exists() for path in files.values()):
            for name, path in files.items():
                pdfmetrics.registerFont(TTFont(name, str(path)))
            return "RegistrySans", "RegistrySans-Bold", "RegistryMono"
    raise RuntimeError("No TrueType font to embed: install fonts-dejavu-core.")


class Styles:
    def __init__(self):
        regular, bold, mono = fonts()
        self.regular, self.bold, self.mono_font = regular, bold, mono
        self.title = ParagraphStyle("title", fontName=bold, fontSize=15, leading=19)
        self.subtitle = ParagraphStyle("subtitle", fontName=regular, fontSize=11, leading=14)
        self.heading = ParagraphStyle(
            "heading", fontName=bold, fontSize=10.5, leading=14, spaceBefore=8, spaceAfter=3
        )
        self.body = ParagraphStyle("body", fontName=regular, fontSize=9, leading=11.5)
        self.bold_body = ParagraphStyle("bold_body", parent=self.body, fontName=bold)
        self.label = ParagraphStyle(
            "label", parent=self.body, fontName=bold, textColor=colors.HexColor("#444444")
        )
        self.mono = ParagraphStyle("mono", fontName=mono, fontSize=7.5, leading=9.5)
        self.small = ParagraphStyle(
            "small",
            parent=self.body,
            fontSize=7.5,
            leading=9.5,
            textColor=colors.HexColor("#555555"),
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
