"""Render + convert time of a 10-page agreement: docxtpl fills a template, LibreOffice makes a PDF.

Target (from the issue): p50 under 0.5 s with a warm converter. Reported with it, in the same
run: the first warm conversion (which starts the converter) on its own, and a cold
`soffice --convert-to` per call (templates_docx.conversion, mode "cold"), with the ratio of the
two medians.

    .venv/bin/python bench/render.py [--runs 20] [--cold-runs 5]

The template is built here with python-docx (Jinja tags as text: a parties table with a {%tr%}
loop over 15 parties, and articles with their paragraphs in {%p%} loops), rendered with
autoescaping on, since party names such as «A & B» are data. No database is used.
"""

import argparse
import io
import math
import os
import statistics
import sys
import time

import _setup

TARGET_P50_SECONDS = 0.5

PARTIES = [
    ("Conferenza dei Sindaci della Versilia", "ente capofila", "Presidente"),
    ("Azienda USL Toscana nord ovest", "ente pubblico", "Direttore generale"),
    ("Provincia di Lucca", "ente pubblico", "Presidente"),
    ("Camera di Commercio Toscana Nord-Ovest", "ente pubblico", "Segretario generale"),
    ("Comune di Viareggio", "ente pubblico", "Sindaco"),
    ("Comune di Pietrasanta", "ente pubblico", "Sindaco"),
    ("Unione Comuni Alta Versilia", "ente pubblico", "Presidente"),
    ("Confcommercio Lucca & Massa-Carrara", "associazione di categoria", "Presidente"),
    ("Confartigianato Imprese Versilia", "associazione di categoria", "Presidente"),
    ("Banca Versilia Lunigiana e Garfagnana", "istituto di credito", "Direttore"),
    ("CTT Nord S.r.l.", "azienda di trasporto", "Amministratore delegato"),
    ("CGIL, CISL & UIL Versilia", "organizzazioni sindacali", "Segretario"),
    ("Cooperativa sociale «Il Ponte» <onlus>", "cooperativa", "Presidente"),
    ("Misericordia di Viareggio", "associazione di volontariato", "Governatore"),
    ("Caritas diocesana di Lucca", "associazione di volontariato", "Direttore"),
]
ARTICLE_TITLES = [
    "Premesse",
    "Oggetto",
    "Finalità",
    "Impegni dei soggetti sottoscrittori",
    "Cabina di regia",
    "Risorse e ripartizione degli oneri",
    "Monitoraggio e valutazione",
    "Trattamento dei dati personali",
    "Durata, recesso e adesione di nuovi soggetti",
    "Controversie",
]
SENTENCES = [
    "Le parti si impegnano a collaborare, ciascuna per le proprie competenze, alla realizzazione "
    "degli interventi previsti dal presente Patto, nel rispetto dei principi di sussidiarietà, "
    "adeguatezza e leale collaborazione.",
    "Gli enti sottoscrittori mettono a disposizione personale, sedi e strumenti secondo quanto "
    "stabilito nel piano operativo annuale approvato dalla Cabina di regia.",
    "Le attività sono rivolte in via prioritaria alle persone e ai nuclei familiari in condizione "
    "di fragilità economica e sociale residenti nei Comuni della Versilia.",
    "Ogni soggetto individua un referente, che partecipa agli incontri periodici e cura lo "
    "scambio delle informazioni necessarie al coordinamento delle azioni.",
    "Gli oneri derivanti dal presente articolo sono ripartiti tra le parti in proporzione alle "
    "attività svolte, senza nuovi o maggiori oneri a carico della finanza pubblica.",
]


def build_template() -> bytes:
    from docx import Document

    document = Document()
    document.add_heading("{{ titolo }}", 0)
    document.add_paragraph("Sottoscritto il {{ data }} tra i seguenti soggetti:")
    table = document.add_table(rows=4, cols=3)
    table.style = "Table Grid"
    header = ["Ente", "Tipologia", "Rappresentante"]
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = text
    table.rows[1].cells[0].text = "{%tr for parte in parti %}"
    for cell, text in zip(
        table.rows[2].cells,
        ["{{ parte.ente }}", "{{ parte.tipologia }}", "{{ parte.rappresentante }}"],
        strict=True,
    ):
        cell.text = text
    table.rows[3].cells[0].text = "{%tr endfor %}"
    document.add_paragraph("{%p for articolo in articoli %}")
    document.add_heading("Articolo {{ articolo.numero }}. {{ articolo.titolo }}", 1)
    document.add_paragraph("{%p for comma in articolo.commi %}")
    document.add_paragraph("{{ loop.index }}. {{ comma }}")
    document.add_paragraph("{%p endfor %}")
    document.add_paragraph("{%p endfor %}")
    document.add_paragraph("Letto, approvato e sottoscritto digitalmente.")
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def context(run: int) -> dict:
    articles = []
    for number, title in enumerate(ARTICLE_TITLES, start=1):
        paragraphs = [
            " ".join(SENTENCES[(number + k + i) % len(SENTENCES)] for i in range(3))
            for k in range(6)
        ]
        articles.append({"numero": number, "titolo": title, "commi": paragraphs})
    return {
        "titolo": f"Patto per l'Inclusione Sociale della Versilia (prova {run})",
        "data": "25 novembre 2026",
        "parti": [
            {"ente": name, "tipologia": kind, "rappresentante": title}
            for name, kind, title in PARTIES
        ],
        "articoli": articles,
    }


def render(template: bytes, run: int) -> bytes:
    import docxtpl

    document = docxtpl.DocxTemplate(io.BytesIO(template))
    document.render(context(run), autoescape=True)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def timed(template: bytes, run: int, convert) -> tuple[float, float, bytes]:
    started = time.perf_counter()
    docx = render(template, run)
    rendered = time.perf_counter()
    pdf = convert(docx)
    return rendered - started, time.perf_counter() - rendered, pdf


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="warm runs (default 20)")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold runs (default 5)")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stipula.settings")
    import django

    django.setup()
    from pypdf import PdfReader

    from templates_docx.conversion import WarmConverter, docx_to_pdf

    print(f"machine: {_setup.machine()}")
    template = build_template()

    started = time.perf_counter()
    with WarmConverter() as converter:
        ready = time.perf_counter() - started
        render_first, convert_first, pdf = timed(template, 0, converter.convert)
        reader = PdfReader(io.BytesIO(pdf))
        pages = len(reader.pages)
        # Time only a correct result: every party, «&» and «<» included, is in the PDF's text.
        text = " ".join(" ".join(page.extract_text() for page in reader.pages).split())
        missing = [name for name, _, _ in PARTIES if name not in text]
        if missing:
            print(f"error: the PDF lacks the parties {missing}", file=sys.stderr)
            return 2
        print(
            f"document: {len(render(template, 0)) / 1024:.0f} KiB DOCX, {pages} pages, "
            f"{len(PARTIES)} parties, {len(pdf) / 1024:.0f} KiB PDF"
        )
        print(
            f"first warm run: {ready + render_first + convert_first:.2f} s "
            f"(starting the converter {ready:.2f} s, render {render_first * 1000:.0f} ms, "
            f"convert {convert_first * 1000:.0f} ms)"
        )
        warm = [timed(template, run, converter.convert) for run in range(1, args.runs + 1)]

    cold = [
        timed(template, run, lambda docx: docx_to_pdf(docx, mode="cold"))
        for run in range(1, args.cold_runs + 1)
    ]

    def line(label, runs):
        renders = [r for r, _, _ in runs]
        converts = [c for _, c, _ in runs]
        totals = [r + c for r, c, _ in runs]
        print(
            f"| {label} | {len(runs)} | {statistics.median(totals):.3f} | "
            f"{percentile(totals, 0.95):.3f} | {statistics.median(renders) * 1000:.0f} | "
            f"{statistics.median(converts) * 1000:.0f} |"
        )
        return statistics.median(totals)

    print()
    print("| render + convert | runs | p50 s | p95 s | render p50 ms | convert p50 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    warm_p50 = line("warm converter", warm)
    cold_p50 = line("cold soffice --convert-to", cold)
    print()
    verdict = "met" if warm_p50 < TARGET_P50_SECONDS else "NOT met"
    print(f"target p50 < {TARGET_P50_SECONDS} s with the warm converter: {verdict}")
    print(f"ratio cold / warm p50: {cold_p50 / warm_p50:.1f}x")
    return 0 if warm_p50 < TARGET_P50_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main())
