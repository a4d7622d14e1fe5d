"""The context templates are rendered with, built from an agreement and the user's data."""

import datetime
from decimal import Decimal

import pytest

from agreements import demo_data
from stipula.errors import ValidationFailed
from templates_docx.context import (
    agreement_context,
    duration,
    italian_number,
    user_variables,
)
from tests.factories import make_agreement
from tests.templates_docx.conftest import make_patto

pytestmark = pytest.mark.django_db


def test_the_patto_context_has_every_party_and_signatory_in_order(officer):
    agreement = make_patto(officer)
    context = agreement_context(agreement, {"luogo": "Viareggio"})

    assert context["agreement"] == {
        "oggetto": demo_data.PATTO_SUBJECT,
        "tipologia": "Patto territoriale",
        "tipo": "patto_territoriale",
        "decorrenza": "01/01/2027",
        "scadenza": "31/12/2029",
        "durata": "3 (tre) anni",
    }
    assert [p["numero"] for p in context["parties"]] == list(range(1, 16))
    assert [p["denominazione"] for p in context["parties"]] == [r[0] for r in demo_data.PARTIES]
    usl = context["parties"][0]
    assert context["ente_capofila"] == usl
    assert usl["tipo"] == "Ente pubblico"  # Italian, the language of the document
    assert usl["pubblico"] is True
    assert usl["identificativi"] == "C.F. 01234560467"
    assert usl["signatories"] == [
        {
            "nome": "Anna Galli",
            "qualifica": "Direttore generale",
            "atto": "Delibera del Direttore generale n. 412/2026",
            "codice_fiscale": "",
        }
    ]
    cna = context["parties"][4]
    assert cna["tipo"] == "Soggetto privato"
    assert cna["identificativi"] == "C.F. 91002340465 – P.IVA 01234567890"
    assert context["luogo"] == "Viareggio"
    assert context["data_stipula"] == ""


def test_user_values_are_formatted_for_an_italian_document(officer):
    agreement = make_patto(officer, parties=demo_data.PARTIES[:2])
    context = agreement_context(
        agreement,
        {
            "data_stipula": datetime.date(2026, 11, 20),
            "termine": "2027-03-31",  # as a date comes back from JSON
            "importo": Decimal("12500.5"),
            "referenti": [{"ente": "Provincia", "nome": "Paolo", "dal": "2027-01-15"}],
            "clausola_recesso": True,
            "codice": "2027-3",  # not a date: left alone
        },
    )
    assert context["data_stipula"] == "20/11/2026"
    assert context["termine"] == "31/03/2027"
    assert context["importo"] == "12.500,50"
    assert context["referenti"] == [{"ente": "Provincia", "nome": "Paolo", "dal": "15/01/2027"}]
    assert context["clausola_recesso"] is True
    assert context["codice"] == "2027-3"


def test_data_cannot_replace_what_comes_from_the_agreement(officer):
    agreement = make_patto(officer, parties=demo_data.PARTIES[:2])
    with pytest.raises(ValidationFailed, match="come from the agreement .*: parties"):
        agreement_context(agreement, {"parties": []})


def test_an_agreement_without_parties_cannot_be_drafted_from_a_template(officer):
    with pytest.raises(ValidationFailed, match="Add the parties"):
        agreement_context(make_agreement(officer), {})


def test_user_variables_leave_out_the_computed_ones():
    names = ["agreement", "data_stipula", "ente_capofila", "luogo", "parties", "premesse"]
    assert user_variables(names) == ["data_stipula", "luogo", "premesse"]


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ((2027, 1, 1), (2029, 12, 31), "3 (tre) anni"),
        ((2027, 1, 1), (2027, 12, 31), "1 (un) anno"),
        ((2027, 3, 15), (2028, 9, 14), "18 (diciotto) mesi"),
        ((2027, 1, 1), (2027, 2, 14), "45 (quarantacinque) giorni"),
        ((2027, 1, 1), (2027, 1, 1), "1 (un) giorno"),
    ],
)
def test_duration_counts_the_last_day(start, end, expected):
    assert duration(datetime.date(*start), datetime.date(*end)) == expected


def test_duration_is_empty_without_both_dates():
    assert duration(None, datetime.date(2027, 1, 1)) == ""


@pytest.mark.parametrize(
    ("n", "words"),
    [(2, "due"), (11, "undici"), (20, "venti"), (21, "ventuno"), (23, "ventitré"),
     (28, "ventotto"), (36, "trentasei"), (99, "novantanove"), (120, "120")],
)  # fmt: skip
def test_italian_number(n, words):
    assert italian_number(n) == words
