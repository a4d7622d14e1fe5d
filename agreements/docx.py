"""Composing a plain DOCX from text, for agreements drafted without a template."""

import io

from docx import Document


def compose_docx(*, title: str, sections: list[tuple[str, list[str]]], parties: list[str]) -> bytes:
    """A DOCX with a title, headed sections of paragraphs and a table of the parties."""
    document = Document()
    document.add_heading(title, level=0)
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for text in paragraphs:
            document.add_paragraph(text)
    if parties:
        document.add_heading("Parti", level=1)
        table = document.add_table(rows=1, cols=2)
        table.rows[0].cells[0].text = "N."
        table.rows[0].cells[1].text = "Parte"
        for number, name in enumerate(parties, start=1):
            row = table.add_row()
            row.cells[0].text = str(number)
            row.cells[1].text = name
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
