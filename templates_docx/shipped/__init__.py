"""The templates shipped with Stipula: DOCX files built by ``build.py`` in this folder and
loaded into the library by ``manage.py load_templates``.

Nothing here imports Django, so that ``build.py`` runs without settings; the kinds are the stored
values of agreements.models.Agreement.Kind (a test checks that they exist).
"""

from dataclasses import dataclass
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ShippedTemplate:
    key: str  # the file name without .docx
    name: str  # the name in the library
    kind: str
    description: str


SHIPPED_TEMPLATES = [
    ShippedTemplate(
        "protocollo_intesa",
        "Protocollo d'intesa",
        "protocollo_intesa",
        "Protocollo d'intesa tra enti pubblici e soggetti privati: finalità, impegni, referenti e "
        "comitato di coordinamento; recesso, protezione dei dati e oneri finanziari facoltativi.",
    ),
    ShippedTemplate(
        "convenzione_art15",
        "Convenzione ex art. 15 L. 241/1990",
        "accordo_art15",
        "Accordo tra pubbliche amministrazioni per attività di interesse comune (art. 15 L. "
        "241/1990, art. 7 c. 4 D.Lgs. 36/2023), con rimborso delle spese facoltativo; firma "
        "digitale a pena di nullità.",
    ),
    ShippedTemplate(
        "patto_inclusione_sociale",
        "Patto territoriale per l'inclusione sociale",
        "patto_territoriale",
        "Patto tra enti pubblici, parti sociali, imprese e terzo settore: tre obiettivi, sei "
        "azioni e il Forum permanente per l'inclusione sociale.",
    ),
]


def shipped_template(key: str) -> ShippedTemplate:
    for template in SHIPPED_TEMPLATES:
        if template.key == key:
            return template
    known = ", ".join(t.key for t in SHIPPED_TEMPLATES)
    raise KeyError(f"no shipped template {key!r} (there are: {known})")


def shipped_template_path(name: str) -> Path:
    """The DOCX file of a shipped template, by key (``"patto_inclusione_sociale"``)."""
    return SHIPPED_DIR / f"{shipped_template(name).key}.docx"


def example_data(key: str) -> dict:
    """Values a user could fill in for a shipped template (for the demo and the tests): every
    variable of the template that agreement_context does not compute, and nothing else."""
    from agreements import demo_data

    common = {
        "luogo": "Viareggio",
        "data_stipula": "",
        "referenti": [
            {
                "ente": "Azienda USL 12 di Viareggio",
                "nome": "Dott.ssa Carla Menchetti",
                "recapito": "inclusione@usl12.example.it",
            },
            {"ente": "Provincia di Lucca", "nome": "Dott. Paolo Baroni", "recapito": ""},
        ],
        "oneri_finanziari": False,
        "importo": "",
        "copertura_finanziaria": "",
        "clausola_recesso": True,
        "clausola_privacy": True,
    }
    if key == "protocollo_intesa":
        return {
            **common,
            "premesse": [
                "le Parti hanno già collaborato nell'ambito del tavolo territoriale per "
                "l'inclusione sociale;"
            ],
            "finalita": [
                "coordinare gli interventi delle Parti nel settore dell'inclusione sociale;",
                "condividere dati e buone prassi;",
            ],
            "foro_competente": "Lucca",
        }
    if key == "convenzione_art15":
        return {
            **common,
            "premesse": [
                "le Parti esercitano funzioni in materia di servizi sociali e di politiche "
                "attive del lavoro sul medesimo territorio;"
            ],
            "attivita": [
                "gestione congiunta dello sportello per l'inserimento lavorativo delle persone "
                "in condizione di svantaggio;",
                "formazione comune degli operatori.",
            ],
            "oneri_finanziari": True,
            "importo": "25.000,00",
            "copertura_finanziaria": "sul capitolo 11040 del bilancio di previsione 2027-2029 "
            "dell'Azienda USL 12 di Viareggio",
        }
    if key == "patto_inclusione_sociale":
        return {**common, "premesse": list(demo_data.PREMISES), "foro_competente": "Lucca"}
    raise KeyError(f"no example data for {key!r}")
