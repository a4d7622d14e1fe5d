"""The redline of two versions of an agreement: operations, HTML, tracked-change DOCX, PDF."""

import io
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime

import pytest
from django.utils.safestring import SafeString
from docx import Document
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from lxml import etree
from pypdf import PdfReader

from agreements.docx import compose_docx
from agreements.redline import (
    ParagraphOp,
    RedlineSummary,
    Segment,
    compare,
    compare_paragraphs,
    extract_paragraphs,
)

SOFFICE = shutil.which("soffice")
W = {"w": "http://schemas.openxmlformats.org/wordprocessingml/2006/main"}

PAYMENT_OLD = "Il pagamento è effettuato entro sessanta giorni dal ricevimento della fattura."
PAYMENT_NEW = "Il pagamento è effettuato entro novanta giorni dal ricevimento della fattura."
PARTIES = "Le parti A & B collaborano; il testo <script>alert('x')</script> non è codice."
DROPPED = "Gli interessi di mora sono dovuti al tasso legale."
ADDED = "È ammesso un anticipo del venti per cento."


def agreement_docx(*, new: bool) -> bytes:
    """Version 1 or 2 of an agreement, with an empty paragraph and a table with a nested table."""
    document = Document()
    document.add_heading("Accordo tra il Comune e l'Università", level=0)
    document.add_paragraph(PARTIES)
    document.add_paragraph("")
    document.add_heading("Art. 2 – Pagamenti", level=1)
    document.add_paragraph(PAYMENT_NEW if new else PAYMENT_OLD)
    document.add_paragraph(ADDED if new else DROPPED)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text = "Ente"
    table.cell(0, 1).text = "Quota"
    table.cell(1, 0).text = "Comune di Perugia"
    table.cell(1, 0).add_table(rows=1, cols=1).cell(0, 0).text = "Allegato tecnico"
    table.cell(1, 1).text = f"{45 if new else 40} per cento delle spese"
    document.add_paragraph("Letto, confermato e sottoscritto.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


OLD_PARAGRAPHS = [
    "Accordo tra il Comune e l'Università",
    PARTIES,
    "Art. 2 – Pagamenti",
    PAYMENT_OLD,
    DROPPED,
    "Ente",
    "Quota",
    "Comune di Perugia",
    "Allegato tecnico",
    "40 per cento delle spese",
    "Letto, confermato e sottoscritto.",
]
NEW_PARAGRAPHS = [
    "Accordo tra il Comune e l'Università",
    PARTIES,
    "Art. 2 – Pagamenti",
    PAYMENT_NEW,
    ADDED,
    "Ente",
    "Quota",
    "Comune di Perugia",
    "Allegato tecnico",
    "45 per cento delle spese",
    "Letto, confermato e sottoscritto.",
]


@pytest.fixture(scope="module")
def redline():
    return compare(agreement_docx(new=False), agreement_docx(new=True))


def empty_docx() -> bytes:
    buffer = io.BytesIO()
    Document().save(buffer)
    return buffer.getvalue()


def document_xml(docx: bytes):
    return etree.fromstring(zipfile.ZipFile(io.BytesIO(docx)).read("word/document.xml"))


def revision_view(docx: bytes, *, accept: bool) -> list[str]:
    """The non-empty paragraphs once every tracked change is accepted (or rejected)."""
    if accept:
        query = ".//w:t[not(ancestor::w:del)]/text()"
    else:
        query = ".//w:t[not(ancestor::w:ins)]/text() | .//w:delText/text()"
    texts = (
        "".join(p.xpath(query, namespaces=W)) for p in document_xml(docx).iterfind(".//w:p", W)
    )
    return [text for text in texts if text]


def test_paragraphs_are_read_in_order_with_table_cells_and_without_empty_ones():
    assert extract_paragraphs(agreement_docx(new=False)) == OLD_PARAGRAPHS
    assert extract_paragraphs(agreement_docx(new=True)) == NEW_PARAGRAPHS


def test_text_in_content_controls_hyperlinks_and_tracked_changes_is_read_as_accepted():
    document = Document()
    body = document.element.body
    body.insert(
        0,
        parse_xml(
            f"<w:p {nsdecls('w', 'r')}>"
            "<w:r><w:t xml:space='preserve'>Termine: </w:t></w:r>"
            "<w:del w:id='1' w:author='X' w:date='2025-01-01T00:00:00Z'>"
            "<w:r><w:delText>trenta</w:delText></w:r></w:del>"
            "<w:ins w:id='2' w:author='X' w:date='2025-01-01T00:00:00Z'>"
            "<w:r><w:t>sessanta</w:t></w:r></w:ins>"
            "<w:r><w:tab/><w:t xml:space='preserve'>giorni, </w:t></w:r>"
            "<w:hyperlink r:id='rId99'><w:r><w:t>vedi albo</w:t></w:r></w:hyperlink>"
            "</w:p>",
        ),
    )
    body.insert(
        1,
        parse_xml(
            f"<w:sdt {nsdecls('w')}><w:sdtContent>"
            "<w:p><w:r><w:t>Campo compilato</w:t></w:r></w:p>"
            "</w:sdtContent></w:sdt>"
        ),
    )
    buffer = io.BytesIO()
    document.save(buffer)

    assert extract_paragraphs(buffer.getvalue()) == [
        "Termine: sessanta\tgiorni, vedi albo",
        "Campo compilato",
    ]


def test_comparison_finds_the_changed_inserted_and_deleted_paragraphs_word_by_word(redline):
    assert redline.operations == [
        ParagraphOp("equal", OLD_PARAGRAPHS[0], OLD_PARAGRAPHS[0]),
        ParagraphOp("equal", PARTIES, PARTIES),
        ParagraphOp("equal", "Art. 2 – Pagamenti", "Art. 2 – Pagamenti"),
        ParagraphOp(
            "change",
            PAYMENT_OLD,
            PAYMENT_NEW,
            (
                Segment("equal", "Il pagamento è effettuato entro "),
                Segment("delete", "sessanta"),
                Segment("insert", "novanta"),
                Segment("equal", " giorni dal ricevimento della fattura."),
            ),
        ),
        ParagraphOp("delete", DROPPED, ""),
        ParagraphOp("insert", "", ADDED),
        ParagraphOp("equal", "Ente", "Ente"),
        ParagraphOp("equal", "Quota", "Quota"),
        ParagraphOp("equal", "Comune di Perugia", "Comune di Perugia"),
        ParagraphOp("equal", "Allegato tecnico", "Allegato tecnico"),
        ParagraphOp(
            "change",
            "40 per cento delle spese",
            "45 per cento delle spese",
            (
                Segment("delete", "40"),
                Segment("insert", "45"),
                Segment("equal", " per cento delle spese"),
            ),
        ),
        ParagraphOp("equal", OLD_PARAGRAPHS[-1], OLD_PARAGRAPHS[-1]),
    ]
    assert redline.has_changes
    # Words: novanta, 45 and the 8 of ADDED; sessanta, 40 and the 9 of DROPPED.
    assert redline.summary == RedlineSummary(
        paragraphs_inserted=1,
        paragraphs_deleted=1,
        paragraphs_changed=2,
        words_inserted=10,
        words_deleted=11,
    )


def test_a_rewritten_phrase_is_one_deletion_and_one_insertion():
    redline = compare_paragraphs(
        ["Entro trenta giorni lavorativi, salvo proroga."],
        ["Entro due mesi solari, salvo proroga."],
    )

    assert redline.operations[0].segments == (
        Segment("equal", "Entro "),
        Segment("delete", "trenta giorni lavorativi"),
        Segment("insert", "due mesi solari"),
        Segment("equal", ", salvo proroga."),
    )


def test_a_rewritten_paragraph_after_an_inserted_one_is_still_paired_with_its_old_version():
    redline = compare_paragraphs(
        ["Il Comune mette a disposizione i locali di via Roma."],
        ["Premessa nuova.", "Il Comune mette a disposizione i locali di via Milano."],
    )

    assert [op.kind for op in redline.operations] == ["insert", "change"]
    assert redline.operations[1].segments[-3:-1] == (
        Segment("delete", "Roma"),
        Segment("insert", "Milano"),
    )


def test_unrelated_paragraphs_are_shown_as_deleted_and_inserted_not_as_changed():
    redline = compare_paragraphs(
        ["Il contributo è pari a mille euro."],
        ["Le controversie sono devolute al foro di Perugia."],
    )

    assert [op.kind for op in redline.operations] == ["delete", "insert"]


def test_identical_documents_have_no_changes():
    docx = compose_docx(
        title="Protocollo d'intesa",
        sections=[("Art. 1", ["Le parti collaborano."])],
        parties=["Comune di Assisi", "Regione Umbria"],
    )

    redline = compare(docx, docx)

    assert not redline.has_changes
    assert {op.kind for op in redline.operations} == {"equal"}
    assert redline.summary == RedlineSummary(0, 0, 0, 0, 0)
    body = str(redline.to_html()).split("</p>", 1)[1]  # past the legend
    assert "<ins>" not in body and "<del>" not in body
    assert document_xml(redline.to_docx()).xpath("//w:ins | //w:del", namespaces=W) == []


def test_against_an_empty_document_everything_is_inserted_or_deleted():
    new = agreement_docx(new=True)

    inserted = compare(empty_docx(), new)
    deleted = compare(new, empty_docx())

    assert inserted.operations == [ParagraphOp("insert", "", text) for text in NEW_PARAGRAPHS]
    assert deleted.operations == [ParagraphOp("delete", text, "") for text in NEW_PARAGRAPHS]


def test_html_marks_the_changes_and_escapes_the_document_text(redline):
    page = redline.to_html(inserted_label="Testo inserito", deleted_label="Testo eliminato")

    assert isinstance(page, SafeString)
    assert page.startswith('<div class="redline">')
    assert "<ins>Testo inserito</ins> <del>Testo eliminato</del>" in page
    assert "entro <del>sessanta</del><ins>novanta</ins> giorni" in page
    assert f'<p class="redline-delete"><del>{DROPPED}</del></p>' in page
    assert f'<p class="redline-insert"><ins>{ADDED}</ins></p>' in page
    assert "Le parti A &amp; B collaborano" in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert "<script>" not in page
    assert page.count("<p class=") == 1 + len(redline.operations)


def test_html_escapes_text_inside_insertions_and_deletions():
    page = compare_paragraphs(
        ["Il tasso è <5%.", "Vedi <b>allegato</b>."],
        ["Il tasso è <6% & fisso.", "<script>alert(1)</script>"],
    ).to_html()

    assert "Il tasso è &lt;<del>5</del><ins>6</ins>%<ins> &amp; fisso</ins>.</p>" in page
    assert "<del>Vedi &lt;b&gt;allegato&lt;/b&gt;.</del>" in page
    assert "<ins>&lt;script&gt;alert(1)&lt;/script&gt;</ins>" in page
    assert "<script>" not in page and "<b>" not in page


def test_docx_has_real_tracked_changes_by_stipula(redline):
    when = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)

    docx = redline.to_docx(title="Confronto tra versione 1 e versione 2", summary="2 modifiche")

    document = Document(io.BytesIO(docx))
    assert document.paragraphs[0].text == "Confronto tra versione 1 e versione 2"
    assert document.paragraphs[0].style.name == "Heading 1"
    assert document.paragraphs[1].text == "2 modifiche"
    root = document_xml(redline.to_docx(when=when))
    revisions = root.xpath("//w:ins | //w:del", namespaces=W)
    assert {r.get(f"{{{W['w']}}}author") for r in revisions} == {"Stipula"}
    assert {r.get(f"{{{W['w']}}}date") for r in revisions} == {"2025-03-01T09:30:00Z"}
    ids = [r.get(f"{{{W['w']}}}id") for r in revisions]
    assert len(ids) == len(set(ids))
    assert root.xpath("//w:del/w:r/w:delText/text()", namespaces=W) == ["sessanta", DROPPED, "40"]
    assert root.xpath("//w:ins/w:r/w:t/text()", namespaces=W) == ["novanta", ADDED, "45"]
    assert root.xpath("//w:del//w:t | //w:delText[not(ancestor::w:del)]", namespaces=W) == []
    # The whole paragraph goes, its mark included, when the change is accepted (or rejected).
    assert root.xpath("//w:p[w:pPr/w:rPr/w:del]//w:delText/text()", namespaces=W) == [DROPPED]
    assert root.xpath("//w:p[w:pPr/w:rPr/w:ins]//w:t/text()", namespaces=W) == [ADDED]


def test_accepting_the_docx_changes_gives_the_new_text_and_rejecting_them_the_old(redline):
    docx = redline.to_docx(title="Confronto", summary="Versione 1 e versione 2")

    assert revision_view(docx, accept=True) == ["Confronto", "Versione 1 e versione 2"] + (
        NEW_PARAGRAPHS
    )
    assert revision_view(docx, accept=False) == ["Confronto", "Versione 1 e versione 2"] + (
        OLD_PARAGRAPHS
    )
    assert extract_paragraphs(docx) == ["Confronto", "Versione 1 e versione 2"] + NEW_PARAGRAPHS


def test_tabs_and_line_breaks_survive_into_the_docx():
    docx = compare_paragraphs(["Art. 1\tOggetto"], ["Art. 1\tOggetto\ne finalità"]).to_docx()

    assert extract_paragraphs(docx) == ["Art. 1\tOggetto\ne finalità"]
    assert revision_view(docx, accept=False) == ["Art. 1Oggetto"]


@pytest.mark.skipif(SOFFICE is None, reason="needs LibreOffice (scripts/setup)")
def test_the_pdf_made_by_libreoffice_shows_deleted_and_inserted_text(redline, tmp_path):
    source = tmp_path / "redline.docx"
    source.write_bytes(redline.to_docx(title="Confronto tra versione 1 e versione 2"))

    subprocess.run(  # noqa: S603 - fixed arguments, our own file
        [
            SOFFICE,
            "--headless",
            "--norestore",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            f"-env:UserInstallation=file://{tmp_path}/profile",
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=180,
    )

    text = "".join(page.extract_text() for page in PdfReader(tmp_path / "redline.pdf").pages)
    assert "sessanta" in text
    assert "novanta" in text
    assert DROPPED in text
    assert ADDED in text


def test_a_very_large_replaced_block_is_paired_index_by_index(monkeypatch):
    monkeypatch.setattr("agreements.redline.MAX_PAIRING_CELLS", 0)

    redline = compare_paragraphs(
        ["Il Comune mette a disposizione i locali di via Roma.", "Clausola finale."],
        [
            "Il Comune mette a disposizione i locali di via Milano.",
            "Premessa del tutto diversa.",
            "Allegato.",
        ],
    )

    assert [(op.kind, op.old or op.new) for op in redline.operations] == [
        ("change", "Il Comune mette a disposizione i locali di via Roma."),
        ("delete", "Clausola finale."),
        ("insert", "Premessa del tutto diversa."),
        ("insert", "Allegato."),
    ]
