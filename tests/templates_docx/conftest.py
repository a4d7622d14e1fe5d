import datetime
import io
import zipfile

import pytest
from docx import Document

from agreements import demo_data, services
from agreements.models import Agreement
from tests.factories import make_user


def make_patto(officer, *, parties=demo_data.PARTIES, subject=demo_data.PATTO_SUBJECT):
    """The Patto per l'Inclusione Sociale with its parties and signatories, built through the
    services as the demo does (names, codes and acts from agreements.demo_data)."""
    agreement = services.agreement_create(
        actor=officer,
        subject=subject,
        kind=Agreement.Kind.PATTO_TERRITORIALE,
        valid_from=datetime.date(2027, 1, 1),
        valid_until=datetime.date(2029, 12, 31),
    )
    for name, kind, fiscal_code, vat, username, first, last, title, act in parties:
        user = make_user(username, "signatory", first_name=first, last_name=last)
        organisation = services.organisation_create(
            actor=None, name=name, kind=kind, fiscal_code=fiscal_code, vat_number=vat
        )
        services.organisation_add_member(
            actor=None, organisation=organisation, user=user, title=title
        )
        party = services.agreement_add_party(
            actor=officer, agreement=agreement, organisation=organisation
        )
        services.agreement_add_signatory(
            actor=officer,
            agreement=agreement,
            party=party,
            user=user,
            title=title,
            authorising_act=act,
        )
    return agreement


@pytest.fixture
def patto(officer):
    return make_patto(officer)


def docx_bytes(*paragraphs: str, header: str = "", footer: str = "") -> bytes:
    """A small DOCX whose paragraphs are the given texts (docxtpl tags included)."""
    document = Document()
    for text in paragraphs:
        document.add_paragraph(text)
    if header:
        document.sections[0].header.paragraphs[0].text = header
    if footer:
        document.sections[0].footer.paragraphs[0].text = footer
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def docx_text(data: bytes) -> str:
    """All the text a reader sees: paragraphs, table cells, headers and footers, one per line."""
    document = Document(io.BytesIO(data))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.extend(cell.text for cell in row.cells)
    for section in document.sections:
        lines.extend(p.text for p in section.header.paragraphs)
        lines.extend(p.text for p in section.footer.paragraphs)
    return "\n".join(lines)


def paragraphs(data: bytes) -> list[str]:
    return [p.text for p in Document(io.BytesIO(data)).paragraphs]


def part(data: bytes, name: str) -> str:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read(name).decode("utf-8")
