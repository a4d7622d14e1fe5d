"""Redline: what changed between two versions of an agreement's DOCX text.

The comparison is made on text alone (formatting is ignored): the paragraphs of both versions,
table cells included, are aligned with difflib; paragraphs that were rewritten rather than added
or removed are paired by similarity and compared word by word. The result is shown as HTML and
exported as a DOCX whose changes are real Word tracked changes (revisions that Word and
LibreOffice can accept or reject); the caller makes the PDF by converting that DOCX.

No string here is translatable: the caller passes the legend labels, the title and the summary
already in the user's language.
"""

import difflib
import html
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn

AUTHOR = "Stipula"

# Two paragraphs in a replaced block are the same paragraph rewritten when at least this share
# of their words survive; below it, showing one deleted and one inserted reads better.
SIMILARITY_THRESHOLD = 0.5
# Pairing a replaced block by similarity costs len(old) * len(new) comparisons; above this the
# block (a rewrite of most of the document) is paired index by index instead.
MAX_PAIRING_CELLS = 2_500

# Words, runs of whitespace, and single other characters: joined back they give the text exactly.
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
_WORD = re.compile(r"\w+")

SegmentKind = Literal["equal", "insert", "delete"]
OperationKind = Literal["equal", "insert", "delete", "change"]


@dataclass(frozen=True)
class Segment:
    """A piece of a changed paragraph: kept, inserted or deleted text."""

    kind: SegmentKind
    text: str


@dataclass(frozen=True)
class ParagraphOp:
    """One paragraph of the redline.

    ``old`` is empty for an inserted paragraph and ``new`` for a deleted one; ``segments`` is
    filled only for a changed paragraph, and joining its non-inserted segments gives ``old``,
    its non-deleted segments ``new``.
    """

    kind: OperationKind
    old: str
    new: str
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True)
class RedlineSummary:
    paragraphs_inserted: int
    paragraphs_deleted: int
    paragraphs_changed: int
    words_inserted: int
    words_deleted: int


@dataclass
class Redline:
    """The paragraph operations that turn the old version into the new one, in reading order."""

    operations: list[ParagraphOp] = field(default_factory=list)

    @property
    def has_changes(self) -> bool:
        return any(op.kind != "equal" for op in self.operations)

    @property
    def summary(self) -> RedlineSummary:
        """Counts of changed paragraphs, and of words in inserted/deleted text (whole paragraphs
        included)."""
        counts = {"insert": 0, "delete": 0, "change": 0, "equal": 0}
        words = {"insert": 0, "delete": 0}
        for op in self.operations:
            counts[op.kind] += 1
            if op.kind == "insert":
                words["insert"] += _count_words(op.new)
            elif op.kind == "delete":
                words["delete"] += _count_words(op.old)
            for segment in op.segments:
                if segment.kind != "equal":
                    words[segment.kind] += _count_words(segment.text)
        return RedlineSummary(
            paragraphs_inserted=counts["insert"],
            paragraphs_deleted=counts["delete"],
            paragraphs_changed=counts["change"],
            words_inserted=words["insert"],
            words_deleted=words["delete"],
        )

    def to_html(
        self, *, inserted_label: str = "Inserted", deleted_label: str = "Deleted"
    ) -> SafeString:
        """The redline as HTML: a legend, then one ``<p>`` per paragraph, with ``<ins>`` and
        ``<del>`` around the changes. Document text is untrusted and is escaped throughout."""
        parts = [
            '<div class="redline">',
            '<p class="redline-legend">'
            f"<ins>{html.escape(inserted_label)}</ins> <del>{html.escape(deleted_label)}</del>"
            "</p>",
        ]
        for op in self.operations:
            if op.kind == "equal":
                body = html.escape(op.new)
            elif op.kind == "insert":
                body = f"<ins>{html.escape(op.new)}</ins>"
            elif op.kind == "delete":
                body = f"<del>{html.escape(op.old)}</del>"
            else:
                body = "".join(_segment_html(segment) for segment in op.segments)
            parts.append(f'<p class="redline-{op.kind}">{body}</p>')
        parts.append("</div>")
        return mark_safe("".join(parts))  # noqa: S308 - every piece of text above is escaped

    def to_docx(self, *, title: str = "", summary: str = "", when: datetime | None = None) -> bytes:
        """The redline as a DOCX whose changes are Word tracked changes by "Stipula".

        ``title`` becomes a heading and ``summary`` a paragraph under it; both are left out when
        empty. ``when`` is the date of the revisions, now by default. Table cells of the compared
        versions appear as paragraphs of their own.
        """
        revisions = _Revisions(when or datetime.now(UTC))
        document = Document()
        if title:
            document.add_heading(title, level=1)
        if summary:
            document.add_paragraph(summary)
        for op in self.operations:
            p = document.add_paragraph()._p
            if op.kind == "equal":
                p.append(_run(op.new))
            elif op.kind == "insert":
                _mark_paragraph(p, revisions.element("w:ins"))
                p.append(revisions.wrap("w:ins", _run(op.new, "insert")))
            elif op.kind == "delete":
                _mark_paragraph(p, revisions.element("w:del"))
                p.append(revisions.wrap("w:del", _run(op.old, "delete")))
            else:
                for segment in op.segments:
                    run = _run(segment.text, segment.kind)
                    if segment.kind == "insert":
                        run = revisions.wrap("w:ins", run)
                    elif segment.kind == "delete":
                        run = revisions.wrap("w:del", run)
                    p.append(run)
        buffer = io.BytesIO()
        document.save(buffer)
        return buffer.getvalue()


def extract_paragraphs(docx: bytes) -> list[str]:
    """The text of the document body's non-empty paragraphs in reading order.

    Table cells are read row by row, cell by cell, nested tables included; text inside content
    controls is read too. Tracked changes already in the document count as accepted (inserted
    text kept, deleted text dropped). Tabs and line breaks become ``\\t`` and ``\\n``. Headers,
    footers, footnotes and text boxes are left out.
    """
    body = Document(io.BytesIO(docx)).element.body
    return [text for text in _block_texts(body) if text.strip()]


def compare(old: bytes, new: bytes) -> Redline:
    """The redline from the ``old`` DOCX to the ``new`` one."""
    return compare_paragraphs(extract_paragraphs(old), extract_paragraphs(new))


def compare_paragraphs(old: list[str], new: list[str]) -> Redline:
    """The redline between two lists of paragraph texts."""
    operations: list[ParagraphOp] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            operations.extend(ParagraphOp("equal", text, text) for text in old[i1:i2])
        elif tag == "delete":
            operations.extend(ParagraphOp("delete", text, "") for text in old[i1:i2])
        elif tag == "insert":
            operations.extend(ParagraphOp("insert", "", text) for text in new[j1:j2])
        else:
            operations.extend(_pair_replaced(old[i1:i2], new[j1:j2]))
    return Redline(operations)


def _pair_replaced(old: list[str], new: list[str]) -> Iterator[ParagraphOp]:
    """Operations for a block of old paragraphs replaced by a block of new ones.

    Pairs are chosen in order (no crossing) to maximise the total similarity of the paired
    paragraphs, so a paragraph rewritten next to an inserted one is still shown as changed.
    """
    n, m = len(old), len(new)
    if n * m > MAX_PAIRING_CELLS:
        yield from _pair_index_by_index(old, new)
        return
    similarity = _similarities(old, new)
    # best[a][b]: the highest total similarity of pairs chosen among old[a:] and new[b:].
    best = [[0.0] * (m + 1) for _ in range(n + 1)]
    for a in range(n - 1, -1, -1):
        for b in range(m - 1, -1, -1):
            score = max(best[a + 1][b], best[a][b + 1])
            if similarity[a][b] is not None:
                score = max(score, similarity[a][b] + best[a + 1][b + 1])
            best[a][b] = score
    a = b = 0
    while a < n and b < m:
        pair = similarity[a][b]
        if pair is not None and best[a][b] == pair + best[a + 1][b + 1]:
            yield ParagraphOp("change", old[a], new[b], _word_segments(old[a], new[b]))
            a, b = a + 1, b + 1
        elif best[a][b] == best[a + 1][b]:
            yield ParagraphOp("delete", old[a], "")
            a += 1
        else:
            yield ParagraphOp("insert", "", new[b])
            b += 1
    yield from (ParagraphOp("delete", text, "") for text in old[a:])
    yield from (ParagraphOp("insert", "", text) for text in new[b:])


def _pair_index_by_index(old: list[str], new: list[str]) -> Iterator[ParagraphOp]:
    for a, b in zip(old, new, strict=False):
        if _similar(_words(a), _words(b)) is None:
            yield ParagraphOp("delete", a, "")
            yield ParagraphOp("insert", "", b)
        else:
            yield ParagraphOp("change", a, b, _word_segments(a, b))
    common = min(len(old), len(new))
    yield from (ParagraphOp("delete", text, "") for text in old[common:])
    yield from (ParagraphOp("insert", "", text) for text in new[common:])


def _similarities(old: list[str], new: list[str]) -> list[list[float | None]]:
    """``_similar`` of every old/new pair, reusing each new paragraph's index of its words."""
    old_words = [_words(text) for text in old]
    table: list[list[float | None]] = [[None] * len(new) for _ in old]
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    for b, text in enumerate(new):
        matcher.set_seq2(_words(text))
        for a, words in enumerate(old_words):
            matcher.set_seq1(words)
            table[a][b] = _ratio_above_threshold(matcher)
    return table


def _similar(old_words: list[str], new_words: list[str]) -> float | None:
    """The share of words two paragraphs have in common, None when too low to pair them."""
    return _ratio_above_threshold(
        difflib.SequenceMatcher(None, old_words, new_words, autojunk=False)
    )


def _ratio_above_threshold(matcher: difflib.SequenceMatcher) -> float | None:
    # The quick ratios are upper bounds of the ratio, and much cheaper.
    if matcher.real_quick_ratio() <= SIMILARITY_THRESHOLD:
        return None
    if matcher.quick_ratio() <= SIMILARITY_THRESHOLD:
        return None
    ratio = matcher.ratio()
    return ratio if ratio > SIMILARITY_THRESHOLD else None


def _words(text: str) -> list[str]:
    return [token for token in _TOKEN.findall(text) if not token.isspace()]


def _count_words(text: str) -> int:
    return len(_WORD.findall(text))


def _word_segments(old: str, new: str) -> tuple[Segment, ...]:
    """The word-level diff of two versions of a paragraph.

    Whitespace alone between two changes is folded into them, so that a rewritten phrase reads
    as one deletion followed by one insertion rather than alternating word by word.
    """
    old_tokens, new_tokens = _TOKEN.findall(old), _TOKEN.findall(new)
    raw: list[Segment] = []
    matcher = difflib.SequenceMatcher(None, old_tokens, new_tokens, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            raw.append(Segment("equal", "".join(old_tokens[i1:i2])))
        if tag in ("delete", "replace"):
            raw.append(Segment("delete", "".join(old_tokens[i1:i2])))
        if tag in ("insert", "replace"):
            raw.append(Segment("insert", "".join(new_tokens[j1:j2])))

    segments: list[Segment] = []
    deleted: list[str] = []
    inserted: list[str] = []

    def flush() -> None:
        if deleted:
            segments.append(Segment("delete", "".join(deleted)))
        if inserted:
            segments.append(Segment("insert", "".join(inserted)))
        deleted.clear()
        inserted.clear()

    for index, segment in enumerate(raw):
        # Opcodes alternate, so an equal segment that is neither first nor last lies between
        # two changes.
        between_changes = 0 < index < len(raw) - 1 and segment.text.isspace()
        if segment.kind == "equal" and not between_changes:
            flush()
            segments.append(segment)
        elif segment.kind == "equal":
            deleted.append(segment.text)
            inserted.append(segment.text)
        elif segment.kind == "delete":
            deleted.append(segment.text)
        else:
            inserted.append(segment.text)
    flush()
    return tuple(segments)


def _segment_html(segment: Segment) -> str:
    text = html.escape(segment.text)
    if segment.kind == "insert":
        return f"<ins>{text}</ins>"
    if segment.kind == "delete":
        return f"<del>{text}</del>"
    return text


# Reading the text of a DOCX body.

_SKIPPED = {qn("w:del"), qn("w:moveFrom"), qn("w:txbxContent"), qn("w:pPr"), qn("w:rPr")}
_CONTAINERS = {qn("w:sdt"), qn("w:sdtContent"), qn("w:customXml")}


def _block_texts(container) -> Iterator[str]:
    """The paragraph texts of a body, cell or content control, tables and controls unfolded."""
    for child in container.iterchildren():
        if child.tag == qn("w:p"):
            yield "".join(_inline_text(child))
        elif child.tag == qn("w:tbl"):
            for row in child.iterchildren(qn("w:tr")):
                for cell in row.iterchildren(qn("w:tc")):
                    yield from _block_texts(cell)
        elif child.tag in _CONTAINERS:
            yield from _block_texts(child)


def _inline_text(element) -> Iterator[str]:
    for child in element.iterchildren():
        if child.tag in _SKIPPED:
            continue
        if child.tag == qn("w:t"):
            yield child.text or ""
        elif child.tag in (qn("w:tab"), qn("w:ptab")):
            yield "\t"
        elif child.tag in (qn("w:br"), qn("w:cr")):
            yield "\n"
        elif child.tag == qn("w:noBreakHyphen"):
            yield "\u2011"
        else:
            yield from _inline_text(child)


# Writing tracked changes (WordprocessingML revisions, ECMA-376 part 1, 17.13.5).


class _Revisions:
    """Makes w:ins / w:del revision elements, each with its own id, all by AUTHOR at one date."""

    def __init__(self, when: datetime):
        self.date = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.next_id = 1

    def element(self, tag: str):
        element = OxmlElement(tag)
        element.set(qn("w:id"), str(self.next_id))
        element.set(qn("w:author"), AUTHOR)
        element.set(qn("w:date"), self.date)
        self.next_id += 1
        return element

    def wrap(self, tag: str, run):
        element = self.element(tag)
        element.append(run)
        return element


def _mark_paragraph(p, revision) -> None:
    """Flag the paragraph mark as inserted or deleted, so accepting or rejecting the change
    removes the whole paragraph and not only its text."""
    r_pr = OxmlElement("w:rPr")
    r_pr.append(revision)
    # w:rPr comes after every other paragraph property that python-docx writes here.
    p.get_or_add_pPr().append(r_pr)


def _run(text: str, kind: SegmentKind = "equal"):
    """A w:r of ``text``, its tabs and line breaks as w:tab / w:br; deleted text in w:delText.

    No direct formatting marks the change: Word and LibreOffice colour, underline and strike the
    revisions themselves (LibreOffice's PDF export included), and text coloured by hand would
    stay coloured once the changes are accepted.
    """
    run = OxmlElement("w:r")
    text_tag = "w:delText" if kind == "delete" else "w:t"
    for piece in re.split(r"([\t\n])", text):
        if piece == "\t":
            run.append(OxmlElement("w:tab"))
        elif piece == "\n":
            run.append(OxmlElement("w:br"))
        elif piece:
            element = OxmlElement(text_tag)
            element.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
            element.text = piece
            run.append(element)
    return run


def summary_text(redline) -> str:
    """The comparison in one sentence, in the active language."""
    if not redline.has_changes:
        return _("The two texts are the same.")
    summary = redline.summary
    return _(
        "Paragraphs: %(inserted)d inserted, %(deleted)d deleted, %(changed)d changed. "
        "Words: %(words_inserted)d inserted, %(words_deleted)d deleted."
    ) % {
        "inserted": summary.paragraphs_inserted,
        "deleted": summary.paragraphs_deleted,
        "changed": summary.paragraphs_changed,
        "words_inserted": summary.words_inserted,
        "words_deleted": summary.words_deleted,
    }
