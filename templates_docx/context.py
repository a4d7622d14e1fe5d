"""The one context shape every template is rendered with.

``agreement_context(agreement, data)`` returns a dict with these keys (all text is Italian, the
language of the documents, whatever the language of the user interface):

``agreement``
    ``oggetto`` (subject), ``tipologia`` (label of the kind, e.g. «Protocollo d'intesa»), ``tipo``
    (stored kind code), ``decorrenza`` and ``scadenza`` (dd/mm/yyyy, or "" when not set),
    ``durata`` (e.g. «3 (tre) anni», or "" when the dates are not both set).
``parties``
    One dict per party, in the agreement's order: ``numero`` (1, 2, ...), ``denominazione``,
    ``tipo`` («Ente pubblico» / «Soggetto privato»), ``pubblico`` (bool), ``codice_fiscale``,
    ``partita_iva``, ``codice_ipa``, ``identificativi`` (e.g. «C.F. 80001230462 – P.IVA
    01234567890»), ``ruolo`` (its role in the agreement, may be ""), and ``signatories``: a list
    of ``{nome, qualifica, atto, codice_fiscale}`` (full name, title, authorising act).
``ente_capofila``
    The first party (the same dict as ``parties[0]``): the lead body.
``luogo``, ``data_stipula``
    Place and date of signing, from ``data`` like the values below, but "" when not given (the
    templates then say that the date is that of the last digital signature).

plus every key of ``data``, the values the user fills in for the template. The shipped templates
use: ``premesse`` (list of texts, added to the fixed premises), ``finalita`` (protocollo) or
``attivita`` (convenzione) (lists of texts), ``referenti`` (list of {ente, nome, recapito}; empty
list: each party will name one later), the booleans ``clausola_recesso``, ``clausola_privacy``
and ``oneri_finanziari``, ``importo`` and ``copertura_finanziaria`` (read only when
``oneri_finanziari``), and ``foro_competente`` (protocollo and patto). A template may use any
other name; every name it uses must be given (templates render with StrictUndefined).
In ``data``, dates (``datetime.date`` or ISO
«2026-11-20» strings, as they come back from JSON) become dd/mm/yyyy and Decimals become Italian
amounts («12.500,00»). ``data`` cannot give the computed keys (COMPUTED_VARIABLES). Values are
inserted as text (autoescaped); ``copertura_finanziaria`` reads after «trovano copertura», e.g.
«sul capitolo 11040 del bilancio di previsione 2027-2029».
"""

import datetime
import re
from decimal import Decimal

from django.utils import translation
from django.utils.translation import gettext as _

from agreements.models import Agreement, Organisation
from stipula.errors import ValidationFailed

# Computed from the agreement: ``data`` cannot give them (they would be silently ignored).
COMPUTED_VARIABLES = frozenset({"agreement", "parties", "ente_capofila"})
# Filled in by the user like the rest of ``data``, but optional: "" when not given.
OPTIONAL_VARIABLES = {"luogo": "", "data_stipula": ""}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The document is Italian whatever the interface language and whether or not the catalogues are
# compiled, so these labels are not looked up through gettext.
_PARTY_KIND = {
    Organisation.Kind.PUBLIC_BODY: "Ente pubblico",
    Organisation.Kind.PRIVATE_ENTITY: "Soggetto privato",
}

_UNITS = (
    "zero uno due tre quattro cinque sei sette otto nove dieci undici dodici tredici quattordici "
    "quindici sedici diciassette diciotto diciannove"
).split()
_TENS = "_ _ venti trenta quaranta cinquanta sessanta settanta ottanta novanta".split()


def user_variables(variables: list[str]) -> list[str]:
    """Of a template's variables, those the user fills in (the others come from the agreement);
    ``luogo`` and ``data_stipula`` among them, though they may be left empty."""
    return [name for name in variables if name not in COMPUTED_VARIABLES]


def italian_number(n: int) -> str:
    """0-99 in Italian words (ventuno, ventotto, trentatré); digits beyond."""
    if not 0 <= n < 100:
        return str(n)
    if n < 20:
        return _UNITS[n]
    tens, unit = divmod(n, 10)
    word = _TENS[tens]
    if unit in (1, 8):
        word = word[:-1]  # elision: ventuno, trentotto
    if unit == 0:
        return word
    return word + ("tré" if unit == 3 else _UNITS[unit])


def format_date(value: datetime.date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def format_amount(value: Decimal) -> str:
    """Italian grouping: 12500.5 -> «12.500,50»."""
    text = f"{value.quantize(Decimal('0.01')):,.2f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def duration(valid_from: datetime.date | None, valid_until: datetime.date | None) -> str:
    """«3 (tre) anni», «18 (diciotto) mesi» or «45 (quarantacinque) giorni», counting the last
    day (01/01/2027-31/12/2029 is three years); "" if a date is missing."""
    if not valid_from or not valid_until:
        return ""
    end = valid_until + datetime.timedelta(days=1)
    months = (end.year - valid_from.year) * 12 + end.month - valid_from.month
    if end.day == valid_from.day and months > 0:
        if months % 12 == 0:
            return _counted(months // 12, "anno", "anni")
        return _counted(months, "mese", "mesi")
    return _counted((end - valid_from).days, "giorno", "giorni")


def _counted(n: int, singular: str, plural: str) -> str:
    if n == 1:
        return f"1 (un) {singular}"
    return f"{n} ({italian_number(n)}) {plural}"


def _format_value(value):
    if isinstance(value, datetime.datetime):
        return format_date(value.date())
    if isinstance(value, datetime.date):
        return format_date(value)
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            return format_date(datetime.date.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, Decimal):
        return format_amount(value)
    if isinstance(value, dict):
        return {key: _format_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_format_value(item) for item in value]
    return value


def _identifiers(organisation: Organisation) -> str:
    codes = []
    if organisation.fiscal_code:
        codes.append(f"C.F. {organisation.fiscal_code}")
    if organisation.vat_number and organisation.vat_number != organisation.fiscal_code:
        codes.append(f"P.IVA {organisation.vat_number}")
    return " – ".join(codes)


def _party(party) -> dict:
    organisation = party.organisation
    return {
        "numero": party.position,
        "denominazione": organisation.name,
        "tipo": _PARTY_KIND.get(organisation.kind, organisation.kind),
        "pubblico": organisation.kind == Organisation.Kind.PUBLIC_BODY,
        "codice_fiscale": organisation.fiscal_code,
        "partita_iva": organisation.vat_number,
        "codice_ipa": organisation.ipa_code,
        "identificativi": _identifiers(organisation),
        "ruolo": party.role_description,
        "signatories": [
            {
                "nome": signatory.full_name,
                "qualifica": signatory.title,
                "atto": signatory.authorising_act,
                "codice_fiscale": signatory.fiscal_code,
            }
            for signatory in party.signatories.all()
        ],
    }


def agreement_context(agreement: Agreement, data: dict) -> dict:
    """The context to render a template for ``agreement`` with the user's ``data``."""
    reserved = sorted(COMPUTED_VARIABLES & set(data))
    if reserved:
        raise ValidationFailed(
            _("These values come from the agreement and cannot be given: %(names)s.")
            % {"names": ", ".join(reserved)}
        )
    parties = list(
        agreement.parties.select_related("organisation")
        .prefetch_related("signatories")
        .order_by("position")
    )
    if not parties:
        raise ValidationFailed(
            _("Add the parties and their signatories before drafting the text from a template.")
        )
    with translation.override("it"):
        party_dicts = [_party(party) for party in parties]
        # Positions may have gaps if parties were ever removed; the document numbers from 1.
        for number, party in enumerate(party_dicts, start=1):
            party["numero"] = number
        context = {**OPTIONAL_VARIABLES}
        context.update({key: _format_value(value) for key, value in data.items()})
        context.update(
            {
                "agreement": {
                    "oggetto": agreement.subject,
                    "tipologia": str(agreement.get_kind_display()),
                    "tipo": agreement.kind,
                    "decorrenza": format_date(agreement.valid_from),
                    "scadenza": format_date(agreement.valid_until),
                    "durata": duration(agreement.valid_from, agreement.valid_until),
                },
                "parties": party_dicts,
                "ente_capofila": party_dicts[0],
            }
        )
    return context
