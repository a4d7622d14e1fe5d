"""Reading variables from a template and filling it in: autoescaping, missing values, errors."""

import io

import docxtpl
import pytest
from docx import Document

from templates_docx.rendering import (
    TemplateError,
    TemplateSyntaxError,
    TemplateValueMissing,
    render_docx,
    template_environment,
    template_variables,
)
from templates_docx.shipped import SHIPPED_TEMPLATES, shipped_template_path
from tests.templates_docx.conftest import docx_bytes, docx_text, paragraphs, part


def test_variables_are_the_undeclared_names_sorted_from_every_part():
    template = docx_bytes(
        "{{ oggetto }} tra {% for p in parties %}{{ p.denominazione }}{% endfor %}",
        "{%p if clausola_recesso %}",
        "Recesso con preavviso di {{ preavviso }} giorni.",
        "{%p endif %}",
        "{% set ns = namespace(n=0) %}{% set ns.n = ns.n + 1 %}Art. {{ ns.n }}",
        header="{{ ente_capofila.denominazione }}",
        footer="{{ agreement.tipologia }}",
    )
    assert template_variables(template) == [
        "agreement",
        "clausola_recesso",
        "ente_capofila",
        "oggetto",
        "parties",
        "preavviso",
    ]


@pytest.mark.parametrize("shipped", SHIPPED_TEMPLATES, ids=lambda s: s.key)
def test_variables_agree_with_docxtpl_on_the_shipped_templates(shipped):
    data = shipped_template_path(shipped.key).read_bytes()
    template = docxtpl.DocxTemplate(io.BytesIO(data))
    expected = template.get_undeclared_template_variables(jinja_env=template_environment())
    assert template_variables(data) == sorted(expected)


def test_values_are_escaped_and_reach_the_document_as_text():
    template = docx_bytes("Tra {{ a }} e {{ b }}.")
    rendered = render_docx(template, {"a": "Comune di A & B <test>", "b": "x < y > z \"' &amp;"})
    document_xml = part(rendered, "word/document.xml")
    assert "Comune di A &amp; B &lt;test&gt;" in document_xml
    assert "<test>" not in document_xml
    # python-docx can parse the result, and the reader sees exactly the values given.
    assert paragraphs(rendered)[0] == "Tra Comune di A & B <test> e x < y > z \"' &amp;."


def test_a_missing_value_stops_the_rendering_and_is_named():
    template = docx_bytes("Premessa.", "Il Foro competente è quello di {{ foro_competente }}.")
    with pytest.raises(TemplateValueMissing) as caught:
        render_docx(template, {})
    error = caught.value
    assert error.details["variable"] == "foro_competente"
    assert str(error).startswith(
        "The template uses «foro_competente», which has no value: fill it in"
    )
    assert "Il Foro competente è quello di {{ foro_competente }}" in error.details["snippet"]


def test_a_missing_field_of_a_value_is_named_with_its_path():
    template = docx_bytes("Il presente atto decorre dal {{ agreement.decorrenza }}.")
    with pytest.raises(TemplateValueMissing) as caught:
        render_docx(template, {"agreement": {"oggetto": "x"}})
    assert caught.value.details["variable"] == "agreement.decorrenza"
    assert "«agreement.decorrenza»" in str(caught.value)


def test_a_missing_boolean_of_an_optional_clause_is_not_taken_as_false():
    template = docx_bytes("{%p if clausola_privacy %}", "GDPR", "{%p endif %}")
    with pytest.raises(TemplateValueMissing, match="«clausola_privacy»"):
        render_docx(template, {})
    assert "GDPR" not in docx_text(render_docx(template, {"clausola_privacy": False}))


def test_a_syntax_error_shows_the_jinja_message_and_the_text_around_it():
    template = docx_bytes(
        "PROTOCOLLO D'INTESA",
        "Art. 1 – Oggetto",
        "Il presente Protocollo ha per oggetto {{ agreement.oggetto }.",
        "Art. 2 – Finalità",
    )
    with pytest.raises(TemplateSyntaxError) as caught:
        template_variables(template)
    error = caught.value
    assert error.code == "template_syntax_error"
    assert error.details["snippet"].startswith("Il presente Protocollo ha per oggetto")
    assert "<w:" not in error.details["snippet"]
    assert error.details["line"] == 4  # the third paragraph: line 1 is the opening of the body
    assert "unexpected '}'" in error.details["error"]
    assert "near «Il presente Protocollo ha per oggetto {{ agreement.oggetto }." in str(error)
    assert "Correct the tag in Word and upload the template again." in str(error)


def test_an_unclosed_block_is_reported():
    template = docx_bytes("Intro", "{%p if clausola_recesso %}", "Recesso.", "Fine del testo")
    with pytest.raises(TemplateSyntaxError) as caught:
        template_variables(template)
    # Jinja reports the line where the unclosed block opens: the snippet shows that «if».
    assert "The innermost block that needs to be closed is 'if'. Correct the tag" in str(
        caught.value
    )
    assert "{% if clausola_recesso %}" in caught.value.details["snippet"]


def test_a_syntax_error_in_the_footer_names_the_footer():
    template = docx_bytes("Testo", footer="Pagina {{ numero ")
    with pytest.raises(TemplateSyntaxError) as caught:
        template_variables(template)
    assert caught.value.details["part"] == "footer"
    assert "Pagina {{ numero" in caught.value.details["snippet"]


def test_templates_run_in_the_sandbox():
    template = docx_bytes("{{ oggetto.__class__.__mro__ }}")
    with pytest.raises(TemplateError) as caught:
        render_docx(template, {"oggetto": "x"})
    assert "unsafe" in str(caught.value)
    assert "{{ oggetto.__class__.__mro__ }}" in caught.value.details["snippet"]


def test_a_tag_failing_at_run_time_is_a_template_error():
    template = docx_bytes("Importo: {{ importo + 1 }}")
    with pytest.raises(TemplateError, match="a tag failed near «Importo: {{ importo \\+ 1 }}»"):
        render_docx(template, {"importo": "mille"})


def test_paragraph_and_row_tags_disappear_from_the_output():
    template = docx_bytes(
        "{%p for p in parties %}", "Per {{ p }} (firmato digitalmente)", "{%p endfor %}", "Fine"
    )
    rendered = render_docx(template, {"parties": ["Ente A", "Ente B"]})
    assert paragraphs(rendered) == [
        "Per Ente A (firmato digitalmente)",
        "Per Ente B (firmato digitalmente)",
        "Fine",
    ]


def test_a_tag_that_breaks_the_document_structure_fails_instead_of_losing_text():
    # {% if %} in a paragraph, {% endif %} in a table cell: when false, the table's opening tags
    # go and its closing tags stay. docxtpl alone would quietly drop what no longer parses.
    document = Document()
    document.add_paragraph("Prima {% if breve %}parte")
    document.add_table(rows=1, cols=1).rows[0].cells[0].text = "fine{% endif %} cella"
    document.add_paragraph("Dopo la tabella")
    buffer = io.BytesIO()
    document.save(buffer)
    template = buffer.getvalue()

    assert "Dopo la tabella" in docx_text(render_docx(template, {"breve": True}))
    with pytest.raises(TemplateError, match=r"Use {%p ... %} for tags that span paragraphs"):
        render_docx(template, {"breve": False})
