"""Every page a person opens in Italian reads in Italian: no English sentence left untranslated,
whether a string the catalogue lacks or text never marked for translation."""

import re
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from agreements import services
from tests.ui.conftest import add_party, docx_bytes, make_agreement, make_user

pytestmark = pytest.mark.django_db

# Words of English sentences that Italian text (and the data on the pages) never contains.
ENGLISH = re.compile(
    r"\b(the|and|your|with|this|that|from|please|must|cannot|should|there is|will be|has been"
    r"|you|which|when|not yet|no longer)\b"
)
ATTRIBUTES = {"aria-label", "title", "placeholder", "alt", "label", "help-text"}


class VisibleText(HTMLParser):
    """What a person reads or hears: text outside scripts and styles, and the labels that
    screen readers speak."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style", "svg", "code", "pre"}:
            self._skip += 1
        self.parts += [value for name, value in attrs if name in ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if tag in {"script", "style", "svg", "code", "pre"} and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def english_in(html: str) -> list[str]:
    parser = VisibleText()
    parser.feed(html)
    return [part for part in parser.parts if ENGLISH.search(part)]


@pytest.fixture
def auditor(db):
    return make_user("auditor", "auditor", first_name="Paolo", last_name="Conti")


@pytest.fixture
def in_negotiation(officer, mayor, rector):
    """A second agreement, in negotiation: the page with the most forms (parties, signatories,
    versions, rounds)."""
    agreement = make_agreement(officer, subject="Protocollo d'intesa per il trasporto sociale")
    add_party(agreement, officer, name="Comune di Lucca", signatory=mayor)
    add_party(agreement, officer, name="Provincia di Lucca", signatory=rector)
    services.version_create(actor=officer, agreement=agreement, docx=docx_bytes(), note="Bozza")
    services.agreement_open_negotiation(actor=officer, agreement=agreement, expected_state="draft")
    return agreement


@pytest.fixture
def pages(in_review, in_negotiation, officer, reviewer, registrar, auditor, mayor):
    pk = in_review.pk
    return [
        (officer, reverse("agreements:detail", args=[in_negotiation.pk])),
        (mayor, reverse("agreements:detail", args=[in_negotiation.pk])),
        (officer, "/"),
        (officer, reverse("agreements:index")),
        (officer, reverse("agreements:create")),
        (officer, reverse("agreements:detail", args=[pk])),
        (officer, reverse("workflow:index")),
        (officer, reverse("workflow:process", args=[pk])),
        (officer, reverse("workflow:reviewers", args=[pk])),
        (officer, reverse("workflow:signing_order", args=[pk])),
        (officer, reverse("template_library:index")),
        (reviewer, "/"),
        (reviewer, reverse("workflow:index")),
        (reviewer, reverse("workflow:review", args=[pk])),
        (mayor, "/"),
        (mayor, reverse("agreements:detail", args=[pk])),
        (registrar, reverse("registry:index")),
        (registrar, reverse("registry:pending")),
        (registrar, reverse("registry:daily")),
        (auditor, reverse("auditlog:index")),
        (auditor, reverse("auditlog:timeline", args=[pk])),
        (auditor, reverse("auditlog:procedure", args=[pk])),
        (auditor, reverse("auditlog:exports")),
        (None, reverse("registry_public:index")),
        (None, reverse("login")),
    ]


def test_pages_in_italian_have_no_english_left(client_for, client, pages):
    found = {}
    for user, url in pages:
        response = client_for(user, language="it").get(url) if user else client.get(url)
        assert response.status_code == 200, url
        english = english_in(response.content.decode())
        if english:
            found[url] = english
    assert found == {}


def test_the_check_finds_english_where_there_is_some(client_for, pages):
    # The same pages in English: the check above would see them.
    officer, url = pages[5]
    english = english_in(client_for(officer, language="en").get(url).content.decode())
    assert english, url
