"""The registration receipt: a real PDF read back with poppler's pdftotext, and its QR code read
back from the rendered page (pdftoppm) module by module.

No QR decoder is installed here, so the code on the page is compared with the QR matrix of the
expected address as reportlab's encoder makes it (the encoder itself is trusted).
"""

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from reportlab.graphics.barcode import qrencoder
from reportlab.lib.pagesizes import A4

from agreements.storage import read_bytes
from registry.receipt import QR_POSITION, QR_SIZE, public_url, qr_drawing, render_receipt
from registry.services import Attachment, registration_annul, registration_register

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is missing"),
]

SUBJECT = "Patto per l'inclusione & la «coesione» sociale <2026>"
PARTIES = ["Comune di Forlì & Unione «Romagna»", "Cooperativa <Aurora>"]


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The text of ``pdf`` in the order it is drawn (a table cell's lines stay together)."""
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(  # noqa: S603 - a fixed poppler tool on our own file
        ["pdftotext", "-enc", "UTF-8", "-raw", str(path), "-"],  # noqa: S607 - on the PATH
        capture_output=True,
        check=True,
    )
    return out.stdout.decode("utf-8")


def qr_modules_on_page(pdf: bytes, tmp_path: Path, module_count: int) -> list[list[bool]]:
    """The dark/light modules at the QR code's place on the first page, rendered at 300 dpi."""
    path = tmp_path / "receipt.pdf"
    path.write_bytes(pdf)
    dpi = 300
    subprocess.run(  # noqa: S603 - a fixed poppler tool on our own file
        [  # noqa: S607 - poppler-utils on the PATH
            "pdftoppm",
            "-gray",
            "-r",
            str(dpi),
            "-f",
            "1",
            "-l",
            "1",
            str(path),
            str(tmp_path / "p"),
        ],
        check=True,
    )
    [image] = tmp_path.glob("p*.pgm")
    data = image.read_bytes()
    # Binary PGM: "P5\n<width> <height>\n<max>\n" then one byte per pixel.
    magic, size, _maximum, pixels = data.split(b"\n", 3)
    assert magic == b"P5"
    width, _height = map(int, size.split())
    scale = dpi / 72
    module = QR_SIZE / (module_count + 8)  # four modules of quiet zone on each side
    x0, y0 = QR_POSITION
    rows = []
    for r in range(module_count):
        y_points = y0 + QR_SIZE - (4 + r + 0.5) * module
        y_pixel = round((A4[1] - y_points) * scale)
        row = []
        for c in range(module_count):
            x_pixel = round((x0 + (4 + c + 0.5) * module) * scale)
            row.append(pixels[y_pixel * width + x_pixel] < 128)
        rows.append(row)
    return rows


def expected_modules(value: str) -> list[list[bool]]:
    qr = qrencoder.QRCode(None, qrencoder.QRErrorCorrectLevel.M)
    qr.addData(value)
    qr.make()
    return [
        [bool(qr.isDark(r, c)) for c in range(qr.getModuleCount())]
        for r in range(qr.getModuleCount())
    ]


def _b64(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def test_the_receipt_says_what_was_registered_and_its_qr_leads_to_the_public_page(
    signed_agreement, registrar, register, settings, tmp_path
):
    settings.STIPULA_BASE_URL = "https://stipula.comune.example.it/"
    agreement = signed_agreement(subject=SUBJECT, parties=PARTIES)
    registration = registration_register(
        actor=registrar,
        agreement=agreement,
        register=register,
        attachments=[Attachment("Allegato «A».pdf", b"%PDF-1.4 allegato", "application/pdf")],
    )

    pdf = render_receipt(registration)

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf, tmp_path)
    flat = " ".join(text.split())
    assert f"REP-CONV 0000001/{registration.year}" in flat
    assert SUBJECT in flat
    for name in PARTIES:
        assert name in flat
    stored = read_bytes(registration.document_file)
    assert registration.document_sha256 == hashlib.sha256(stored).hexdigest()
    assert registration.document_sha256 in flat
    assert base64.b64encode(hashlib.sha256(stored).digest()).decode() in flat
    [attachment] = registration.attachments
    assert attachment["sha256"] in flat
    assert _b64(attachment["sha256"]) in flat
    assert "Allegato «A».pdf" in flat
    assert "Giovanna Protocolli" in flat  # the operator
    local = registration.registered_at.astimezone(ZoneInfo("Europe/Rome"))
    assert local.strftime("%d/%m/%Y %H:%M:%S") in flat
    assert "ANNULLED" not in flat
    url = public_url(registration)
    assert url == (
        f"https://stipula.comune.example.it/pubblico/REP-CONV/{registration.year}/"
        f"{registration.number}/"
    )
    assert url in flat
    # The QR code drawn on the page is the code of that address.
    [widget] = qr_drawing(url).contents
    assert widget.value == url
    expected = expected_modules(url)
    assert qr_modules_on_page(pdf, tmp_path, len(expected)) == expected
    assert qr_modules_on_page(pdf, tmp_path, len(expected)) != expected_modules(url + "x")


def test_an_annulled_registrations_receipt_is_marked_with_the_annulment(
    signed_agreement, registrar, register, tmp_path
):
    registration = registration_register(
        actor=registrar, agreement=signed_agreement(), register=register
    )
    registration_annul(
        actor=registrar,
        registration=registration,
        reason="Registrato per errore nel repertorio sbagliato",
        authorised_by="Dott.ssa Anna Neri, dirigente",
        authorising_act="Determina n. 12/2026",
    )
    registration.refresh_from_db()

    text = " ".join(pdf_text(render_receipt(registration), tmp_path).split())

    assert "ANNULLED on" in text
    assert "Registrato per errore nel repertorio sbagliato" in text
    assert "Dott.ssa Anna Neri, dirigente" in text
    assert "Determina n. 12/2026" in text
    # Everything registered is still there.
    assert registration.subject in text
    assert registration.document_sha256 in text
