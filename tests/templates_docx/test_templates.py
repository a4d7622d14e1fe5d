"""The three shipped templates, rendered for the Patto per l'Inclusione Sociale's 15 parties."""

import io
import re
import zipfile

import pytest
from pypdf import PdfReader

from agreements import demo_data
from agreements.models import Agreement
from templates_docx.context import agreement_context, user_variables
from templates_docx.rendering import render_docx, template_variables
from templates_docx.shipped import SHIPPED_TEMPLATES, build, example_data, shipped_template_path
from tests.templates_docx.conftest import docx_text, make_patto, paragraphs

pytestmark = pytest.mark.django_db

KEYS = [s.key for s in SHIPPED_TEMPLATES]
OPTIONAL_ARTICLES = ("Recesso", "Trattamento dei dati personali")
ARTICLE = re.compile(r"^Art\. (\d+) – (.+)$")


def render(key, agreement, **data):
    values = {**example_data(key), **data}
    docx = shipped_template_path(key).read_bytes()
    return render_docx(docx, agreement_context(agreement, values))


def articles(rendered: bytes) -> list[tuple[int, str]]:
    return [(int(m[1]), m[2]) for text in paragraphs(rendered) if (m := ARTICLE.match(text))]


@pytest.mark.parametrize("key", KEYS)
def test_every_party_and_signatory_of_the_patto_appears(key, officer):
    rendered = render(key, make_patto(officer))
    text = docx_text(rendered)
    lines = text.splitlines()
    for name, _kind, fiscal_code, vat, _user, first, last, title, act in demo_data.PARTIES:
        assert name in lines  # its cell in the table of the parties
        assert fiscal_code in text and vat in text
        assert f"{first} {last}, {title}, in forza di {act}" in lines
        assert f"Per {name} – {first} {last}, {title} (firmato digitalmente)" in lines
    assert demo_data.PATTO_SUBJECT in text
    assert "{{" not in text and "{%" not in text


def test_the_patto_template_follows_the_seed(officer):
    text = docx_text(render("patto_inclusione_sociale", make_patto(officer)))
    assert "È istituito il Forum permanente per l'inclusione sociale" in text
    for objective in demo_data.OBJECTIVES:
        assert objective.replace("mainstreaming", "«mainstreaming»")[:60] in text
    for action in demo_data.ACTIONS:
        assert action in text
    for premise in demo_data.PREMISES:  # the agreement's own premises, from the data
        assert f"– {premise}" in text
    assert "convocato e coordinato da Azienda USL 12 di Viareggio" in text
    assert "decorre dal 01/01/2027 e ha durata di 3 (tre) anni, con scadenza il 31/12/2029" in text


@pytest.mark.parametrize("key", KEYS)
def test_articles_are_numbered_without_gaps_with_and_without_optional_clauses(key, officer):
    agreement = make_patto(officer, parties=demo_data.PARTIES[:3])
    every = articles(render(key, agreement, clausola_recesso=True, clausola_privacy=True))
    none = articles(render(key, agreement, clausola_recesso=False, clausola_privacy=False))
    only_privacy = articles(render(key, agreement, clausola_recesso=False, clausola_privacy=True))

    for numbered in (every, none, only_privacy):
        assert [number for number, _title in numbered] == list(range(1, len(numbered) + 1))
    assert every[0] == (1, "Oggetto")
    assert {title for _n, title in every} - {title for _n, title in none} == set(OPTIONAL_ARTICLES)
    assert len(only_privacy) == len(none) + 1
    titles_after = [title for _n, title in only_privacy]
    assert "Recesso" not in titles_after and "Trattamento dei dati personali" in titles_after


def test_financial_clause_of_the_convenzione(officer):
    agreement = make_patto(officer, parties=demo_data.PARTIES[:2])
    with_costs = docx_text(render("convenzione_art15", agreement, oneri_finanziari=True))
    assert "Rimborso delle spese e copertura finanziaria" in with_costs
    assert "importo massimo complessivo di euro 25.000,00, che trova copertura sul capitolo" in (
        with_costs
    )
    without = docx_text(render("convenzione_art15", agreement, oneri_finanziari=False))
    assert "non comporta trasferimenti finanziari tra le Parti" in without
    assert "25.000,00" not in without


def test_a_party_name_with_markup_characters_survives(officer):
    parties = [("Comune di A & B <test>", "public_body", "80000000001", "", "sindaco.ab",
                "Maria", "Rossi & Figli", "Sindaca", "Delibera n. 1 <urgente>"),
               demo_data.PARTIES[1]]  # fmt: skip
    rendered = render("protocollo_intesa", make_patto(officer, parties=parties))
    with zipfile.ZipFile(io.BytesIO(rendered)) as archive:
        document_xml = archive.read("word/document.xml").decode()
    assert "Comune di A &amp; B &lt;test&gt;" in document_xml
    lines = docx_text(rendered).splitlines()
    assert "Per Comune di A & B <test> – Maria Rossi & Figli, Sindaca (firmato digitalmente)" in (
        lines
    )


@pytest.mark.parametrize("key", KEYS)
def test_the_example_data_fills_exactly_the_user_variables(key):
    variables = template_variables(shipped_template_path(key).read_bytes())
    assert set(example_data(key)) == set(user_variables(variables))


@pytest.mark.parametrize("key", KEYS)
def test_the_shipped_files_are_what_build_py_makes(key):
    # Compared part by part, not byte by byte, so that another zlib cannot make it fail.
    def unpacked(data):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return {info.filename: archive.read(info) for info in archive.infolist()}

    assert unpacked(build.build(key)) == unpacked(shipped_template_path(key).read_bytes())


def test_the_shipped_kinds_are_agreement_kinds():
    assert {s.kind for s in SHIPPED_TEMPLATES} <= set(Agreement.Kind.values)


@pytest.mark.parametrize("key", KEYS)
def test_every_shipped_template_reads_the_same_in_pdf(key, officer):
    """Real LibreOffice (the application's converter): every party, every signature block and
    the numbering survive the layout (checked with pypdf)."""
    from templates_docx.conversion import docx_to_pdf

    rendered = render(key, make_patto(officer))
    pdf = docx_to_pdf(rendered)
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    text = re.sub(r"\s+", " ", text)
    for name, *_rest, first, last, title, _act in demo_data.PARTIES:
        assert name in text
        assert f"Per {name} – {first} {last}, {title} (firmato digitalmente)" in text
    headings = articles(rendered)
    assert len(headings) >= 8
    for number, title in headings:
        assert f"Art. {number} – {title}" in text
