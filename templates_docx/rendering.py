"""Reading and filling DOCX templates (docxtpl: Jinja tags written as text in Word).

Templates are uploaded by legal officers, so their tags are code run on the server: they run in
Jinja's sandbox, with autoescaping always on (a value such as «A & B <c>» must reach the document
as text, not as broken XML) and with StrictUndefined, so that a value nobody filled in stops the
rendering instead of leaving a silent blank in a legal text.

docxtpl turns the document's XML into one Jinja source per part (body, each header and footer,
footnotes, and the core properties). The body source has one line per paragraph (docxtpl puts
each ``<w:p>`` on its own line), so the line number of a Jinja error points at a paragraph, whose
text, stripped of XML, is shown to the user.
"""

import html
import io
import re
from dataclasses import dataclass

import docxtpl
import jinja2
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment
from lxml import etree

from stipula.errors import DocumentRejected, ValidationFailed

SNIPPET_CHARS = 200

# docxtpl renders these core properties as templates too.
_PROPERTIES = ("author", "comments", "identifier", "language", "subject", "title")
_FOOTNOTES_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.footnotes+xml"
_TAG = re.compile(r"<[^>]+>")
_SPACES = re.compile(r"\s+")
# Where in the document a Jinja source comes from, as the user is told.
_PART_LABELS = {
    "body": gettext_lazy("text"),
    "header": gettext_lazy("header"),
    "footer": gettext_lazy("footer"),
    "footnotes": gettext_lazy("footnotes"),
    "properties": gettext_lazy("document properties"),
}
_UNDEFINED_NAME = re.compile(
    r"^'(?P<var>[^']+)' is undefined$|has no (?:attribute|element) '?(?P<attr>[^']+?)'?$"
)


class TemplateError(DocumentRejected):
    """The template itself is wrong: a tag that does not parse, or one that fails when run.

    ``details`` carries ``line`` (of the Jinja source of the part) and ``snippet`` (the text of
    the paragraph around the error) when they are known.
    """

    code = "template_error"


class TemplateSyntaxError(TemplateError):
    code = "template_syntax_error"


class TemplateValueMissing(ValidationFailed):
    """The template is fine but the data lacks a value it uses; ``details["variable"]``."""

    code = "template_value_missing"


def template_environment() -> jinja2.Environment:
    """The only Jinja environment templates are parsed and rendered with."""
    return SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=True)


@dataclass(frozen=True)
class _Source:
    part: str
    text: str


def _paragraph_lines(xml: str) -> str:
    # Exactly what docxtpl's render_xml_part does before handing the XML to Jinja.
    return re.sub(r"<w:p([ >])", r"\n<w:p\1", xml)


def _sources(template: docxtpl.DocxTemplate) -> list[_Source]:
    """The Jinja sources docxtpl renders, in its order, from an unrendered template."""
    document = template.get_docx()
    sources = [_Source("body", _paragraph_lines(template.patch_xml(template.get_xml())))]
    for kind, uri in (("header", template.HEADER_URI), ("footer", template.FOOTER_URI)):
        for _key, part in template.get_headers_footers(uri):
            xml = template.patch_xml(template.get_part_xml(part))
            sources.append(_Source(kind, _paragraph_lines(xml)))
    for part in document.part.package.parts:
        if part.content_type == _FOOTNOTES_TYPE:
            blob = part.blob.decode("utf-8") if isinstance(part.blob, bytes) else part.blob
            sources.append(_Source("footnotes", _paragraph_lines(template.patch_xml(blob))))
    for name in _PROPERTIES:
        value = getattr(document.core_properties, name) or ""
        if value:
            sources.append(_Source("properties", value))
    return sources


class _StrictDocxTemplate(docxtpl.DocxTemplate):
    def fix_tables(self, xml):
        # docxtpl re-reads the rendered body with lxml's recover=True, which silently drops what
        # does not parse (text between an {% if %} and an {% endif %} in different paragraphs,
        # say). A legal text must not lose words quietly: parse strictly first.
        etree.fromstring(xml)  # noqa: S320 - our own rendered XML, no DTD (see docx_safety)
        return super().fix_tables(xml)


def _open(docx: bytes) -> docxtpl.DocxTemplate:
    template = _StrictDocxTemplate(io.BytesIO(docx))
    try:
        template.init_docx()
    except Exception as error:  # python-docx raises many types on a malformed package
        raise DocumentRejected(
            _(
                "The document cannot be opened as a Word document (%(error)s). Save it again as "
                ".docx from Word or LibreOffice and upload the new file."
            )
            % {"error": error},
            reason="unreadable",
        ) from None
    return template


def _text(xml_lines: list[str]) -> str:
    text = html.unescape(_TAG.sub("", " ".join(xml_lines)))
    return _SPACES.sub(" ", text).strip()


def snippet_at(source: str, line: int) -> str:
    """The text (no XML) of the paragraph at ``line`` of a Jinja source, with its neighbours
    when it has little text of its own (a paragraph holding only a tag, say)."""
    lines = source.splitlines()
    if not lines:
        return ""
    index = min(max(line - 1, 0), len(lines) - 1)
    text = _text(lines[index : index + 1])
    if len(text) < 40:
        text = _text(lines[max(index - 1, 0) : index + 2])
    if len(text) > SNIPPET_CHARS:
        text = text[: SNIPPET_CHARS - 1].rstrip() + "…"
    return text


def _syntax_error(error: jinja2.TemplateSyntaxError, source: _Source) -> TemplateSyntaxError:
    line = error.lineno or 1
    snippet = snippet_at(source.text, line)
    return TemplateSyntaxError(
        _(
            "The template has an error in a tag near «%(snippet)s» (%(part)s, line %(line)d): "
            "%(error)s. Correct the tag in Word and upload the template again."
        )
        % {
            "snippet": snippet,
            "part": _PART_LABELS.get(source.part, source.part),
            "line": line,
            "error": (error.message or "").rstrip("."),
        },
        line=line,
        snippet=snippet,
        part=source.part,
        error=error.message or "",
    )


def template_variables(docx: bytes) -> list[str]:
    """The names the template expects in its context, sorted.

    The same set as ``docxtpl.DocxTemplate.get_undeclared_template_variables``, but each part is
    parsed on its own, exactly as it will be rendered (docxtpl's method parses all parts glued
    into one line, which hides where a syntax error is, and skips footnotes and properties).
    Raises TemplateSyntaxError, with the paragraph's text, if a tag does not parse.
    """
    template = _open(docx)
    environment = template_environment()
    names: set[str] = set()
    for source in _sources(template):
        try:
            parsed = environment.parse(source.text)
        except jinja2.TemplateSyntaxError as error:
            raise _syntax_error(error, source) from None
        names |= meta.find_undeclared_variables(parsed)
    return sorted(names)


def _template_line(error: BaseException) -> int | None:
    """The line of the template source where a runtime error happened (Jinja rewrites the
    traceback so that the template appears as a frame of file «<template>»)."""
    line = None
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == "<template>":
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line


def _failing_source(template: docxtpl.DocxTemplate, docx: bytes) -> _Source | None:
    """The source of the part being rendered when the error happened."""
    part = template.current_rendering_part
    fresh = _open(docx)
    if part is None or part is template.docx.part:
        return _sources(fresh)[0]
    partname = getattr(part, "partname", None)
    for kind, uri in (("header", fresh.HEADER_URI), ("footer", fresh.FOOTER_URI)):
        for _key, candidate in fresh.get_headers_footers(uri):
            if candidate.partname == partname:
                xml = fresh.patch_xml(fresh.get_part_xml(candidate))
                return _Source(kind, _paragraph_lines(xml))
    return None


def _where(template, docx: bytes, error: BaseException) -> tuple[int | None, str]:
    line = getattr(error, "lineno", None) or _template_line(error)
    if line is None:
        return None, ""
    source = _failing_source(template, docx)
    return line, (snippet_at(source.text, line) if source else "")


def _missing_name(message: str, snippet: str) -> str:
    match = _UNDEFINED_NAME.search(message or "")
    if not match:
        return message
    if match["var"]:
        return match["var"]
    attribute = match["attr"]
    # «'dict object' has no attribute 'x'» does not say of what: find «something.x» in the tags.
    dotted = re.search(rf"([A-Za-z_][\w.]*\.{re.escape(attribute)})\b", snippet)
    return dotted[1] if dotted else attribute


def render_docx(template_docx: bytes, context: dict) -> bytes:
    """Fill the template with ``context`` and return the DOCX.

    Raises TemplateValueMissing naming the value the template needs and the context lacks, and
    TemplateError (or TemplateSyntaxError) when a tag is wrong.
    """
    template = _open(template_docx)
    try:
        template.render(context, jinja_env=template_environment(), autoescape=True)
    except jinja2.UndefinedError as error:
        line, snippet = _where(template, template_docx, error)
        name = _missing_name(error.message or "", snippet)
        message = _(
            "The template uses «%(name)s», which has no value: fill it in and draft the text again."
        ) % {"name": name}
        if snippet:
            message += " " + _("(It appears near «%(snippet)s».)") % {"snippet": snippet}
        raise TemplateValueMissing(
            message,
            variable=name,
            line=line or "",
            snippet=snippet,
        ) from None
    except jinja2.TemplateSyntaxError as error:
        source = _failing_source(template, template_docx) or _Source("body", "")
        raise _syntax_error(error, source) from None
    except (jinja2.TemplateError, TypeError, ValueError, ArithmeticError, LookupError) as error:
        # A tag that parses but fails when run (a filter on the wrong type, a forbidden attribute
        # in the sandbox, ...). The template is at fault, not the data alone.
        line, snippet = _where(template, template_docx, error)
        raise TemplateError(
            _(
                "The template could not be filled in: a tag failed near «%(snippet)s» "
                "(%(error)s). Correct the template, or the value it uses, and try again."
            )
            % {"snippet": snippet or "?", "error": error},
            line=line or "",
            snippet=snippet,
        ) from None
    except etree.XMLSyntaxError as error:
        raise TemplateError(
            _(
                "The filled-in template is not a valid document (%(error)s): a tag probably opens "
                "in one paragraph or table cell and closes in another. Use {%%p ... %%} for tags "
                "that span paragraphs and {%%tr ... %%} for table rows."
            )
            % {"error": error},
        ) from None
    buffer = io.BytesIO()
    template.save(buffer)
    return buffer.getvalue()
