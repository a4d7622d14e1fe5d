"""Build the three DOCX templates shipped with Stipula.

    python -m templates_docx.shipped.build      (from the repository root)

Writes protocollo_intesa.docx, convenzione_art15.docx and patto_inclusione_sociale.docx next to
this file. The texts are written for this project. python-docx lays out the document; the
docxtpl tags are plain text in it:

- ``{{ ... }}`` a value; ``{% ... %}`` logic inside a paragraph;
- ``{%p if/for/else/endif/endfor %}`` alone in a paragraph: the paragraph is replaced by the
  tag, so whole paragraphs (optional clauses, one per list item or signatory) come and go;
- ``{%tr for/endfor %}`` alone in a table row: one row per party.

Articles are numbered while rendering ({% set ns.n = ns.n + 1 %}), so that they stay consecutive
whichever optional clauses are present. The context is described in templates_docx/context.py.

The output is reproducible: fixed document properties and ZIP timestamps, so rebuilding without
changing this script gives the same text, and load_templates sees nothing new.
"""

import datetime
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

OUTPUT_DIR = Path(__file__).resolve().parent
FONT = "Times New Roman"
BUILT_AT = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)

NEW_ARTICLE = "{% set ns.n = ns.n + 1 %}"


@dataclass(frozen=True)
class Atto:
    """How the text refers to itself: «il presente Protocollo», «la presente Convenzione»."""

    il: str
    del_: str
    dal: str
    o: str  # the ending of participles agreeing with it: sottoscritto / sottoscritta

    def __call__(self, text: str) -> str:
        text = text.replace("[Il]", self.il[0].upper() + self.il[1:])
        text = text.replace("[il]", self.il).replace("[del]", self.del_)
        return text.replace("[dal]", self.dal).replace("[o]", self.o)


PROTOCOLLO = Atto(
    "il presente Protocollo", "del presente Protocollo", "dal presente Protocollo", "o"
)
CONVENZIONE = Atto(
    "la presente Convenzione", "della presente Convenzione", "dalla presente Convenzione", "a"
)
PATTO = Atto("il presente Patto", "del presente Patto", "dal presente Patto", "o")


# Layout --------------------------------------------------------------------------------------


def _plain_fonts(style) -> None:
    """Use FONT in black for a style, dropping the theme fonts and colours of python-docx's
    default template (which would otherwise win over the explicit font)."""
    style.font.name = FONT
    style.font.color.rgb = RGBColor(0, 0, 0)
    fonts = style.element.rPr.find(qn("w:rFonts"))
    for attribute in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attribute), None)
    fonts.set(qn("w:eastAsia"), FONT)
    fonts.set(qn("w:cs"), FONT)


def new_document(title: str) -> Document:
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.5)
    section.top_margin, section.bottom_margin = Cm(2.5), Cm(2)

    normal = document.styles["Normal"]
    _plain_fonts(normal)
    normal.font.size = Pt(12)
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.line_spacing = 1.15
    normal.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY

    for name, size in (("Title", 16), ("Heading 1", 12), ("Heading 2", 12)):
        style = document.styles[name]
        _plain_fonts(style)
        style.font.size = Pt(size)
        style.font.bold = True
        style.font.italic = False
        style.font.all_caps = False
        style.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.CENTER
        style.paragraph_format.space_before = Pt(12 if name.startswith("Heading") else 0)
        style.paragraph_format.space_after = Pt(6)
        style.paragraph_format.keep_with_next = True
    # The default Title draws a border under itself; a legal text has none.
    title_ppr = document.styles["Title"].element.pPr
    if title_ppr is not None and title_ppr.find(qn("w:pBdr")) is not None:
        title_ppr.remove(title_ppr.find(qn("w:pBdr")))
    document.styles["Title"].font.size = Pt(16)

    properties = document.core_properties
    properties.title = title
    properties.author = properties.last_modified_by = "Stipula"
    properties.comments = ""
    properties.revision = 1
    properties.created = properties.modified = BUILT_AT
    return document


def paragraph(document, text: str, *, style=None, bold=False, align=None, indent=False):
    result = document.add_paragraph(style=style)
    run = result.add_run(text)
    run.bold = bold or None
    if align is not None:
        result.alignment = align
    if indent:
        result.paragraph_format.left_indent = Cm(0.75)
        result.paragraph_format.first_line_indent = Cm(-0.5)
    return result


def tag(document, text: str) -> None:
    """A paragraph holding only a {%p ... %} tag: docxtpl replaces the whole paragraph."""
    document.add_paragraph(text)


def heading(document, text: str) -> None:
    """A centred heading in capitals: TRA, PREMESSO CHE, ..."""
    document.add_paragraph(text, style="Heading 1")


def article(document, title: str, paragraphs: list[str]) -> None:
    document.add_paragraph(f"Art. {NEW_ARTICLE}{{{{ ns.n }}}} – {title}", style="Heading 2")
    for text in paragraphs:
        paragraph(document, text)


def items(document, texts: list[str]) -> None:
    """A lettered list: a) ..., b) ..."""
    for letter, text in zip("abcdefghijklmnopqrstuvwxyz", texts, strict=False):
        paragraph(document, f"{letter}) {text}", indent=True)


def loop_items(document, loop: str, text: str) -> None:
    """One indented dash paragraph per item of a list in the context."""
    tag(document, f"{{%p for {loop} %}}")
    paragraph(document, f"– {text}", indent=True)
    tag(document, "{%p endfor %}")


def _field(run_parent, instruction: str, *, half_points: int) -> None:
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), instruction)
    run = OxmlElement("w:r")
    properties = OxmlElement("w:rPr")
    size = OxmlElement("w:sz")
    size.set(qn("w:val"), str(half_points))
    properties.append(size)
    run.append(properties)
    text = OxmlElement("w:t")
    text.text = "1"
    run.append(text)
    field.append(run)
    run_parent._p.append(field)


def footer(document, label: str) -> None:
    footer_paragraph = document.sections[0].footer.paragraphs[0]
    footer_paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer_paragraph.add_run(f"{label} – pag. ").font.size = Pt(9)
    _field(footer_paragraph, "PAGE", half_points=18)
    footer_paragraph.add_run(" di ").font.size = Pt(9)
    _field(footer_paragraph, "NUMPAGES", half_points=18)


def _repeat_as_header(row) -> None:
    properties = row._tr.get_or_add_trPr()
    header = OxmlElement("w:tblHeader")
    header.set(qn("w:val"), "true")
    properties.append(header)


def parties_table(document) -> None:
    """N. | Denominazione | Codice fiscale / P. IVA | Rappresentata da — one row per party."""
    widths = (Cm(1), Cm(5.5), Cm(3.8), Cm(5.7))
    table = document.add_table(rows=4, cols=4)
    table.style = document.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = width  # the grid, which LibreOffice reads; Word reads the cells' widths
    rows = [
        ("N.", "Denominazione", "Codice fiscale / P. IVA", "Rappresentata da"),
        ("{%tr for p in parties %}", "", "", ""),
        (
            "{{ p.numero }}",
            "{{ p.denominazione }}{% if p.ruolo %} ({{ p.ruolo }}){% endif %}",
            "{{ p.identificativi }}",
            "{% for s in p.signatories %}{{ s.nome }}, {{ s.qualifica }}, in forza di "
            "{{ s.atto }}{% if not loop.last %}; {% endif %}{% endfor %}",
        ),
        ("{%tr endfor %}", "", "", ""),
    ]
    for row, texts in zip(table.rows, rows, strict=True):
        for cell, text, width in zip(row.cells, texts, widths, strict=True):
            cell.width = width
            cell_paragraph = cell.paragraphs[0]
            cell_paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT
            cell_paragraph.paragraph_format.space_after = Pt(0)
            run = cell_paragraph.add_run(text)
            run.font.size = Pt(10)
            run.bold = row is table.rows[0] or None
    _repeat_as_header(table.rows[0])


def opening(document, atto: Atto, *, title: str, subtitles: list[str]) -> None:
    """Intestazione and the list of the parties."""
    # The counter of articles lives in the first paragraph; it prints nothing.
    document.add_paragraph("{% set ns = namespace(n=0) %}" + title, style="Title")
    for text in subtitles:
        paragraph(document, text, bold=True, align=WD_ALIGN_PARAGRAPH.CENTER)
    heading(document, "TRA")
    parties_table(document)
    after_table = paragraph(
        document,
        "di seguito denominate congiuntamente «le Parti» e singolarmente «la Parte», ciascuna "
        "rappresentata dalla persona indicata nella tabella, autorizzata alla sottoscrizione con "
        "l'atto ivi richiamato;",
    )
    after_table.paragraph_format.space_before = Pt(6)


def premises(document, atto: Atto, *, premesso: list[str], considerato: list[str]) -> None:
    heading(document, "PREMESSO CHE")
    for text in premesso:
        paragraph(document, f"– {atto(text)}", indent=True)
    loop_items(document, "testo in premesse", "{{ testo }}")
    heading(document, "CONSIDERATO CHE")
    for text in considerato:
        paragraph(document, f"– {atto(text)}", indent=True)
    heading(document, "TUTTO CIÒ PREMESSO E CONSIDERATO, SI CONVIENE E SI STIPULA QUANTO SEGUE")


# Clauses shared by the three texts ----------------------------------------------------------


def clause_referenti(document, atto: Atto, *, title: str, closing: list[str]) -> None:
    document.add_paragraph(f"Art. {NEW_ARTICLE}{{{{ ns.n }}}} – {title}", style="Heading 2")
    tag(document, "{%p if referenti %}")
    paragraph(document, atto("Le Parti individuano quali referenti per l'attuazione [del]:"))
    loop_items(
        document,
        "r in referenti",
        "per {{ r.ente }}: {{ r.nome }}{% if r.recapito %} ({{ r.recapito }}){% endif %};",
    )
    tag(document, "{%p else %}")
    paragraph(
        document,
        atto(
            "Ciascuna Parte comunica alle altre, entro 30 (trenta) giorni dalla sottoscrizione, il "
            "nominativo e i recapiti del proprio referente per l'attuazione [del]."
        ),
    )
    tag(document, "{%p endif %}")
    paragraph(
        document,
        atto(
            "La sostituzione di un referente è comunicata tempestivamente alle altre Parti e non "
            "comporta modifica [del]."
        ),
    )
    for text in closing:
        paragraph(document, atto(text))


def clause_oneri(document, atto: Atto) -> None:
    article(document, "Oneri finanziari", [])
    tag(document, "{%p if oneri_finanziari %}")
    paragraph(
        document,
        atto(
            "Gli oneri derivanti dall'attuazione [del], stimati in complessivi euro {{ importo }}, "
            "trovano copertura {{ copertura_finanziaria }}. Ciascuna Parte vi provvede nei limiti "
            "delle risorse stanziate nel proprio bilancio e secondo il proprio ordinamento "
            "contabile."
        ),
    )
    tag(document, "{%p else %}")
    paragraph(
        document,
        atto(
            "[Il] non comporta oneri finanziari a carico delle Parti. Le attività che dovessero "
            "comportare oneri sono disciplinate da specifici accordi attuativi, previa verifica "
            "della relativa copertura finanziaria da parte di ciascuna Parte interessata."
        ),
    )
    tag(document, "{%p endif %}")


def clause_durata(document, atto: Atto, extra: list[str] = ()) -> None:
    article(
        document,
        "Decorrenza e durata",
        [
            atto(
                "[Il] decorre {% if agreement.decorrenza %}dal {{ agreement.decorrenza }}"
                "{% else %}dalla data dell'ultima sottoscrizione digitale{% endif %}"
                "{% if agreement.durata %} e ha durata di {{ agreement.durata }}{% endif %}"
                "{% if agreement.scadenza %}, con scadenza il {{ agreement.scadenza }}{% endif %}."
            ),
            *[atto(text) for text in extra],
            atto(
                "Prima della scadenza, [il] può essere rinnovat[o] con atto espresso delle Parti, "
                "adottato secondo i rispettivi ordinamenti. È escluso il rinnovo tacito."
            ),
        ],
    )


def clause_recesso(document, atto: Atto) -> None:
    tag(document, "{%p if clausola_recesso %}")
    article(
        document,
        "Recesso",
        [
            atto(
                "Ciascuna Parte può recedere [dal] con comunicazione scritta trasmessa alle altre "
                "Parti a mezzo di posta elettronica certificata, con un preavviso di almeno 30 "
                "(trenta) giorni."
            ),
            atto(
                "Il recesso ha effetto soltanto per la Parte che recede: [il] resta efficace tra "
                "le altre Parti, e sono fatti salvi gli impegni già assunti e le attività in corso "
                "alla data in cui il recesso ha effetto."
            ),
        ],
    )
    tag(document, "{%p endif %}")


def clause_privacy(document, atto: Atto) -> None:
    tag(document, "{%p if clausola_privacy %}")
    article(
        document,
        "Trattamento dei dati personali",
        [
            atto(
                "Le Parti trattano i dati personali necessari all'attuazione [del] nel rispetto "
                "del Regolamento (UE) 2016/679 del Parlamento europeo e del Consiglio, del 27 "
                "aprile 2016 (GDPR), e del decreto legislativo 30 giugno 2003, n. 196 (Codice in "
                "materia di protezione dei dati personali), limitatamente ai dati e alle "
                "operazioni necessari alle finalità [del]."
            ),
            "Ciascuna Parte agisce in qualità di titolare autonomo del trattamento dei dati che "
            "tratta per le proprie finalità istituzionali e fornisce agli interessati "
            "l'informativa di cui agli articoli 13 e 14 del GDPR. Qualora due o più Parti "
            "determinino congiuntamente finalità e mezzi di un trattamento, esse stipulano "
            "l'accordo di contitolarità previsto dall'articolo 26 del GDPR; qualora una Parte "
            "tratti dati per conto di un'altra, questa la designa responsabile del trattamento ai "
            "sensi dell'articolo 28 del GDPR.",
            "Le Parti adottano misure tecniche e organizzative adeguate a garantire un livello di "
            "sicurezza adeguato al rischio, ai sensi dell'articolo 32 del GDPR, e si informano "
            "reciprocamente e senza ritardo di ogni violazione dei dati personali trattati "
            "nell'ambito della collaborazione.",
        ],
    )
    tag(document, "{%p endif %}")


def clause_controversie_foro(document, atto: Atto) -> None:
    article(
        document,
        "Controversie",
        [
            atto(
                "Le Parti si impegnano a risolvere in via amichevole ogni controversia relativa "
                "all'interpretazione e all'attuazione [del]. In mancanza di accordo è competente, "
                "in via esclusiva, il Foro di {{ foro_competente }}, fatta salva la giurisdizione "
                "esclusiva del giudice amministrativo nelle materie indicate dall'articolo 133 del "
                "decreto legislativo 2 luglio 2010, n. 104 (Codice del processo amministrativo)."
            )
        ],
    )


def clause_sottoscrizione(document, atto: Atto, *, a_pena_di_nullita: bool = False) -> None:
    nullita = ", a pena di nullità," if a_pena_di_nullita else ""
    article(
        document,
        "Sottoscrizione e registrazione",
        [
            atto(
                f"[Il] è sottoscritt[o]{nullita} con firma digitale ai sensi dell'articolo 15, "
                "comma 2-bis, della legge 7 agosto 1990, n. 241 e dell'articolo 24 del decreto "
                "legislativo 7 marzo 2005, n. 82 (Codice dell'amministrazione digitale), e si "
                "perfeziona alla data dell'ultima sottoscrizione."
            ),
            atto(
                "[Il], redatt[o] in forma di scrittura privata non autenticata, è soggett[o] a "
                "registrazione solo in caso d'uso, ai sensi del decreto del Presidente della "
                "Repubblica 26 aprile 1986, n. 131 (Testo unico delle disposizioni concernenti "
                "l'imposta di registro); le relative spese sono a carico della Parte che la "
                "richiede."
            ),
        ],
    )


def clause_rinvio(document, atto: Atto, *, rinvio: str) -> None:
    article(
        document,
        "Modifiche e norme di rinvio",
        [
            atto(
                "Ogni modifica [del] è concordata per iscritto tra le Parti e sottoscritta con "
                "firma digitale da tutte."
            ),
            atto(f"Per quanto non previsto [dal] si applicano {rinvio}"),
        ],
    )


def signatures(document) -> None:
    paragraph(document, "Letto, approvato e sottoscritto digitalmente.", bold=True)
    paragraph(
        document,
        "{% if luogo %}{{ luogo }}, {% endif %}{% if data_stipula %}{{ data_stipula }}"
        "{% else %}data dell'ultima firma digitale{% endif %}",
    )
    tag(document, "{%p for p in parties %}")
    tag(document, "{%p for s in p.signatories %}")
    paragraph(
        document,
        "Per {{ p.denominazione }} – {{ s.nome }}, {{ s.qualifica }} (firmato digitalmente)",
        align=WD_ALIGN_PARAGRAPH.LEFT,
    )
    tag(document, "{%p endfor %}")
    tag(document, "{%p endfor %}")
    note = paragraph(
        document,
        "Documento informatico sottoscritto con firma digitale ai sensi dell'articolo 24 del "
        "decreto legislativo 7 marzo 2005, n. 82, che sostituisce il documento cartaceo e la "
        "firma autografa.",
    )
    note.runs[0].font.size = Pt(9)
    note.runs[0].italic = True


# The three texts -----------------------------------------------------------------------------

RINVIO_241 = (
    "le disposizioni della legge 7 agosto 1990, n. 241 e, in quanto compatibili, i principi del "
    "codice civile in materia di obbligazioni e contratti."
)
APPROVAZIONE = (
    "ciascuna Parte ha approvato lo schema [del] e ha autorizzato alla sottoscrizione il proprio "
    "rappresentante con l'atto indicato nella tabella delle Parti;"
)


def protocollo_intesa() -> Document:
    atto = PROTOCOLLO
    document = new_document("Protocollo d'intesa – modello Stipula")
    opening(document, atto, title="PROTOCOLLO D'INTESA", subtitles=["{{ agreement.oggetto }}"])
    premises(
        document,
        atto,
        premesso=[
            "le pubbliche amministrazioni, nel perseguimento dei propri fini istituzionali, "
            "operano secondo i principi di leale collaborazione, buon andamento, efficacia ed "
            "economicità dell'azione amministrativa;",
            "l'articolo 15 della legge 7 agosto 1990, n. 241 consente alle amministrazioni "
            "pubbliche di concludere tra loro accordi per disciplinare lo svolgimento in "
            "collaborazione di attività di interesse comune, e l'articolo 118, quarto comma, "
            "della Costituzione impegna le istituzioni a favorire l'autonoma iniziativa dei "
            "cittadini, singoli e associati, per lo svolgimento di attività di interesse "
            "generale;",
        ],
        considerato=[
            "le Parti condividono l'interesse a definire un quadro stabile di collaborazione per "
            "le finalità indicate [dal], ciascuna nell'ambito delle proprie competenze;",
            APPROVAZIONE,
        ],
    )
    article(
        document,
        "Oggetto",
        [
            atto(
                "Le premesse e la tabella delle Parti costituiscono parte integrante e "
                "sostanziale [del]."
            ),
            atto(
                "[Il] definisce i termini della collaborazione tra le Parti avente ad oggetto: "
                "{{ agreement.oggetto }}."
            ),
        ],
    )
    article(
        document,
        "Finalità",
        [
            atto(
                "Con [il] le Parti, nel rispetto delle rispettive competenze e autonomie, si "
                "propongono di:"
            )
        ],
    )
    loop_items(document, "finalita_item in finalita", "{{ finalita_item }}")
    article(
        document,
        "Impegni delle Parti",
        [atto("Per il perseguimento delle finalità [del], le Parti si impegnano a:")],
    )
    items(
        document,
        [
            "collaborare lealmente, mettendo a disposizione, nei limiti delle proprie risorse, le "
            "competenze professionali e gli strumenti necessari;",
            "scambiare le informazioni e i dati utili, nel rispetto della normativa in materia di "
            "protezione dei dati personali e del segreto d'ufficio;",
            "definire, ove necessario, specifici accordi attuativi che disciplinino le singole "
            "iniziative, i tempi, le risorse e le responsabilità;",
            atto("promuovere la conoscenza [del] e dei risultati della collaborazione."),
        ],
    )
    paragraph(
        document,
        atto(
            "[Il] non vincola le Parti all'adozione di specifici provvedimenti, che restano "
            "riservati alla competenza dei rispettivi organi."
        ),
    )
    clause_referenti(
        document,
        atto,
        title="Referenti e Comitato di coordinamento",
        closing=[
            "I referenti costituiscono il Comitato di coordinamento, convocato da "
            "{{ ente_capofila.denominazione }}, che programma le attività, ne verifica lo stato "
            "di attuazione e riferisce alle Parti almeno una volta l'anno."
        ],
    )
    clause_oneri(document, atto)
    clause_durata(document, atto)
    clause_recesso(document, atto)
    clause_privacy(document, atto)
    clause_controversie_foro(document, atto)
    clause_sottoscrizione(document, atto)
    clause_rinvio(document, atto, rinvio=RINVIO_241)
    signatures(document)
    footer(document, "Protocollo d'intesa")
    return document


def convenzione_art15() -> Document:
    atto = CONVENZIONE
    document = new_document("Convenzione ex art. 15 L. 241/1990 – modello Stipula")
    opening(
        document,
        atto,
        title="CONVENZIONE",
        subtitles=[
            "ai sensi dell'articolo 15 della legge 7 agosto 1990, n. 241",
            "{{ agreement.oggetto }}",
        ],
    )
    premises(
        document,
        atto,
        premesso=[
            "l'articolo 15, comma 1, della legge 7 agosto 1990, n. 241 prevede che le "
            "amministrazioni pubbliche possano sempre concludere tra loro accordi per "
            "disciplinare lo svolgimento in collaborazione di attività di interesse comune;",
            "l'articolo 7, comma 4, del decreto legislativo 31 marzo 2023, n. 36 (Codice dei "
            "contratti pubblici) esclude dall'ambito di applicazione del Codice la cooperazione "
            "tra amministrazioni volta al perseguimento di obiettivi di interesse comune, quando "
            "ricorrono le condizioni ivi indicate;",
            "ai sensi del comma 2-bis del citato articolo 15, gli accordi tra amministrazioni sono "
            "sottoscritti con firma digitale, con firma elettronica avanzata o con altra firma "
            "elettronica qualificata, a pena di nullità;",
        ],
        considerato=[
            "le Parti hanno un interesse pubblico comune allo svolgimento in collaborazione delle "
            "attività oggetto [del], ciascuna nell'esercizio delle proprie funzioni "
            "istituzionali;",
            "la collaborazione si fonda sulla effettiva partecipazione di ciascuna Parte ai "
            "compiti funzionali all'attività di interesse comune, senza alcun rapporto "
            "sinallagmatico tra prestazioni, e gli eventuali trasferimenti finanziari tra le "
            "Parti costituiscono mero ristoro delle spese sostenute;",
            "ricorrono le condizioni di cui all'articolo 7, comma 4, del decreto legislativo 31 "
            "marzo 2023, n. 36;",
            APPROVAZIONE,
        ],
    )
    article(
        document,
        "Oggetto",
        [
            atto(
                "Le premesse e la tabella delle Parti costituiscono parte integrante e "
                "sostanziale [del]."
            ),
            atto(
                "[Il] disciplina lo svolgimento in collaborazione tra le Parti delle attività di "
                "interesse comune relative a: {{ agreement.oggetto }}."
            ),
        ],
    )
    article(
        document,
        "Finalità e attività",
        [
            "Per il perseguimento dell'interesse pubblico comune, le Parti svolgono in "
            "collaborazione le seguenti attività:"
        ],
    )
    loop_items(document, "attivita_item in attivita", "{{ attivita_item }}")
    paragraph(
        document,
        atto(
            "Le modalità operative di dettaglio sono definite d'intesa tra i referenti, nel "
            "rispetto di quanto previsto [dal]."
        ),
    )
    article(
        document,
        "Impegni delle Parti",
        [
            "Ciascuna Parte partecipa allo svolgimento delle attività con il proprio personale, "
            "le proprie strutture e le proprie competenze, secondo la ripartizione dei compiti "
            "concordata tra le Parti.",
            "{{ ente_capofila.denominazione }} svolge le funzioni di coordinamento generale, cura "
            "le comunicazioni tra le Parti e redige, al termine di ciascun anno di attività, una "
            "relazione sullo stato di attuazione della collaborazione.",
        ],
    )
    clause_referenti(document, atto, title="Referenti", closing=[])
    tag(document, "{%p if oneri_finanziari %}")
    article(
        document,
        "Rimborso delle spese e copertura finanziaria",
        [
            atto(
                "La collaborazione non prevede corrispettivi. A titolo di mero ristoro delle spese "
                "effettivamente sostenute e documentate per lo svolgimento delle attività [del] è "
                "riconosciuto un importo massimo complessivo di euro {{ importo }}, che trova "
                "copertura {{ copertura_finanziaria }}."
            ),
            "Il rimborso è erogato a seguito di rendicontazione delle spese sostenute, approvata "
            "dai referenti delle Parti; le somme trasferite costituiscono ristoro dei costi e non "
            "corrispettivo di prestazioni.",
        ],
    )
    tag(document, "{%p else %}")
    article(
        document,
        "Oneri finanziari",
        [
            atto(
                "[Il] non comporta trasferimenti finanziari tra le Parti: ciascuna Parte sostiene "
                "con le proprie risorse i costi delle attività di propria competenza."
            )
        ],
    )
    tag(document, "{%p endif %}")
    clause_durata(document, atto)
    clause_recesso(document, atto)
    clause_privacy(document, atto)
    article(
        document,
        "Responsabilità e coperture assicurative",
        [
            atto(
                "Ciascuna Parte provvede alla copertura assicurativa del proprio personale "
                "impegnato nelle attività [del], per gli infortuni e per la responsabilità civile "
                "verso terzi, e risponde dei danni causati dal proprio personale nello svolgimento "
                "delle stesse."
            )
        ],
    )
    article(
        document,
        "Controversie",
        [
            atto(
                "Le Parti si impegnano a risolvere in via amichevole le controversie relative "
                "all'interpretazione e all'esecuzione [del]. Le controversie non risolte in via "
                "amichevole sono devolute alla giurisdizione esclusiva del giudice "
                "amministrativo, ai sensi dell'articolo 133, comma 1, lettera a), numero 2, del "
                "decreto legislativo 2 luglio 2010, n. 104."
            )
        ],
    )
    clause_sottoscrizione(document, atto, a_pena_di_nullita=True)
    clause_rinvio(
        document,
        atto,
        rinvio="l'articolo 11, commi 2 e 3, e l'articolo 15 della legge 7 agosto 1990, n. 241 e, "
        "in quanto compatibili, i principi del codice civile in materia di obbligazioni e "
        "contratti.",
    )
    signatures(document)
    footer(document, "Convenzione ex art. 15 L. 241/1990")
    return document


# The objectives and actions of the Patto per l'Inclusione Sociale (Versilia), in its own words.
PATTO_OBIETTIVI = [
    "ricondurre l'esercizio dei diritti delle persone in stato di svantaggio all'interno delle "
    "politiche di «mainstreaming» individuate dall'Unione europea;",
    "identificare le condizioni sociali, economiche, amministrative ed organizzative in cui le "
    "politiche e le buone prassi per l'inclusione sociale possano aumentare a livello locale la "
    "loro efficacia;",
    "creare i presupposti operativi per evitare che l'esclusione sociale diventi la condizione "
    "permanente di vita dei cittadini in stato di disagio.",
]
PATTO_AZIONI = [
    "istituzione di un Forum permanente per l'inclusione sociale;",
    "definizione di una comune strategia culturale di prevenzione dell'esclusione sociale;",
    "elaborazione di risposte condivise tra tutti gli attori sociali interessati per specifiche "
    "aree: inserimento lavorativo, alloggio, trasporti, microcredito, formazione, cultura, vita "
    "di relazione;",
    "stipula di convenzioni e protocolli;",
    "verifica e controllo delle procedure;",
    "diffusione dei risultati.",
]


def patto_inclusione_sociale() -> Document:
    atto = PATTO
    document = new_document("Patto territoriale per l'inclusione sociale – modello Stipula")
    opening(
        document,
        atto,
        title="PATTO TERRITORIALE PER L'INCLUSIONE SOCIALE",
        subtitles=["{{ agreement.oggetto }}"],
    )
    premises(
        document,
        atto,
        premesso=[
            "l'articolo 118, quarto comma, della Costituzione impegna Stato, Regioni, Città "
            "metropolitane, Province e Comuni a favorire l'autonoma iniziativa dei cittadini, "
            "singoli e associati, per lo svolgimento di attività di interesse generale, sulla "
            "base del principio di sussidiarietà;",
            "la legge 8 novembre 2000, n. 328 (Legge quadro per la realizzazione del sistema "
            "integrato di interventi e servizi sociali) chiama gli enti pubblici a programmare e "
            "realizzare il sistema integrato con il concorso dei soggetti del terzo settore, "
            "delle organizzazioni sindacali e degli altri soggetti pubblici e privati del "
            "territorio;",
            "l'articolo 55 del decreto legislativo 3 luglio 2017, n. 117 (Codice del Terzo "
            "settore) prevede il coinvolgimento attivo degli enti del Terzo settore nella "
            "programmazione e nell'organizzazione degli interventi, attraverso forme di "
            "co-programmazione e co-progettazione;",
        ],
        considerato=[
            "le Parti condividono l'obiettivo di ricondurre a unità d'azione interventi oggi "
            "frammentati, evitando la dispersione di risorse ed energie;",
            "le politiche pubbliche, la responsabilità sociale d'impresa e l'azione della "
            "cooperazione sociale e del volontariato, se coordinate in una rete territoriale, "
            "aumentano l'efficacia delle risposte ai bisogni di inclusione sociale e di esercizio "
            "di cittadinanza reale;",
            APPROVAZIONE,
        ],
    )
    article(
        document,
        "Oggetto",
        [
            atto(
                "Le premesse e la tabella delle Parti costituiscono parte integrante e "
                "sostanziale [del]."
            ),
            atto(
                "Con [il] le Parti costituiscono una rete territoriale per l'inclusione sociale "
                "e ne definiscono obiettivi, azioni, organi e impegni reciproci: "
                "{{ agreement.oggetto }}."
            ),
        ],
    )
    article(document, "Finalità", [atto("[Il] persegue i seguenti obiettivi:")])
    items(document, PATTO_OBIETTIVI)
    article(
        document,
        "Azioni",
        [
            "Gli obiettivi di cui all'articolo precedente sono perseguiti attraverso le seguenti "
            "azioni:"
        ],
    )
    items(document, PATTO_AZIONI)
    article(
        document,
        "Forum permanente per l'inclusione sociale",
        [
            atto(
                "È istituito il Forum permanente per l'inclusione sociale (di seguito «Forum»), "
                "sede stabile di confronto, di programmazione condivisa e di verifica delle "
                "azioni previste [dal]."
            ),
            "Il Forum è composto da un rappresentante designato da ciascuna delle Parti; è "
            "convocato e coordinato da {{ ente_capofila.denominazione }}, in qualità di ente "
            "capofila, e si riunisce almeno due volte l'anno e ogni volta che ne faccia richiesta "
            "almeno un terzo delle Parti.",
        ],
    )
    tag(document, "{%p if referenti %}")
    paragraph(document, "In sede di prima costituzione, le Parti designano quali componenti:")
    loop_items(
        document,
        "r in referenti",
        "per {{ r.ente }}: {{ r.nome }}{% if r.recapito %} ({{ r.recapito }}){% endif %};",
    )
    tag(document, "{%p endif %}")
    paragraph(document, "Il Forum:")
    items(
        document,
        [
            "definisce una comune strategia culturale di prevenzione dell'esclusione sociale;",
            "elabora risposte condivise per le aree dell'inserimento lavorativo, dell'alloggio, "
            "dei trasporti, del microcredito, della formazione, della cultura e della vita di "
            "relazione, anche mediante gruppi di lavoro tematici;",
            "propone alle Parti la stipula di convenzioni e protocolli attuativi;",
            atto("verifica e controlla le procedure e lo stato di attuazione [del];"),
            "cura la diffusione dei risultati, anche mediante una relazione annuale pubblicata "
            "sui siti istituzionali delle Parti.",
        ],
    )
    paragraph(
        document,
        "La partecipazione al Forum è a titolo gratuito e non dà luogo a compensi, gettoni di "
        "presenza o rimborsi spese comunque denominati.",
    )
    article(
        document,
        "Impegni delle Parti",
        [
            "Ciascuna Parte, nell'ambito delle proprie competenze e nei limiti delle proprie "
            "risorse, si impegna a:"
        ],
    )
    items(
        document,
        [
            "designare il proprio rappresentante nel Forum entro 30 (trenta) giorni dalla "
            "sottoscrizione;",
            "partecipare attivamente ai lavori del Forum e dei gruppi di lavoro tematici;",
            "mettere a disposizione informazioni, dati e buone prassi utili alle azioni comuni, "
            "nel rispetto della normativa in materia di protezione dei dati personali;",
            atto("promuovere [il] presso i propri associati, iscritti e utenti;"),
            "dare attuazione, per quanto di competenza, alle risposte condivise elaborate dal "
            "Forum.",
        ],
    )
    paragraph(
        document,
        "Gli enti pubblici vi provvedono secondo i rispettivi ordinamenti; i soggetti privati "
        "anche nell'ambito delle proprie politiche di responsabilità sociale.",
    )
    article(
        document,
        "Adesione di altri soggetti",
        [
            "Possono aderire al presente Patto, anche dopo la sua sottoscrizione, altri soggetti "
            "pubblici e privati che ne condividano le finalità, previo parere favorevole del "
            "Forum. L'adesione si perfeziona con la sottoscrizione digitale di un atto di "
            "adesione, comunicato a tutte le Parti, e comporta l'accettazione integrale del "
            "presente Patto."
        ],
    )
    clause_oneri(document, atto)
    clause_durata(
        document,
        atto,
        extra=[
            "Sei mesi prima della scadenza il Forum trasmette alle Parti una relazione sui "
            "risultati conseguiti, ai fini dell'eventuale rinnovo."
        ],
    )
    clause_recesso(document, atto)
    clause_privacy(document, atto)
    clause_controversie_foro(document, atto)
    clause_sottoscrizione(document, atto)
    clause_rinvio(document, atto, rinvio=RINVIO_241)
    signatures(document)
    footer(document, "Patto territoriale per l'inclusione sociale")
    return document


BUILDERS = {
    "protocollo_intesa": protocollo_intesa,
    "convenzione_art15": convenzione_art15,
    "patto_inclusione_sociale": patto_inclusione_sociale,
}


def reproducible(docx: bytes) -> bytes:
    """The same DOCX with fixed ZIP timestamps, so that equal content gives equal bytes."""
    source = zipfile.ZipFile(io.BytesIO(docx))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            target.writestr(fixed, source.read(info))
    return buffer.getvalue()


def build(name: str) -> bytes:
    buffer = io.BytesIO()
    BUILDERS[name]().save(buffer)
    return reproducible(buffer.getvalue())


def main() -> None:
    for name in BUILDERS:
        path = OUTPUT_DIR / f"{name}.docx"
        path.write_bytes(build(name))
        print(f"wrote {path}")  # noqa: T201 - a build script reports what it wrote


if __name__ == "__main__":
    main()
