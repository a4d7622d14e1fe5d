"""Fixtures for the web pages: people in their roles and agreements built by the real services."""

import io
import itertools

import docx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils.html import escape

from agreements import services
from agreements.models import Agreement, Organisation

_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _ui_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Hashing test passwords with PBKDF2 would be most of the suite's time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_user(username, *roles, first_name="", last_name=""):
    """A user in the given role groups (created by the data migration)."""
    user = get_user_model().objects.create_user(
        username=username,
        password="pw-" + username,
        first_name=first_name or username.capitalize(),
        last_name=last_name,
    )
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    return user


def make_organisation(name=None, *, members=()):
    organisation = services.organisation_create(
        actor=None,
        name=name or f"Comune di Prova {next(_numbers)}",
        kind=Organisation.Kind.PUBLIC_BODY,
        fiscal_code=f"{80000000000 + next(_numbers)}",
    )
    for user in members:
        services.organisation_add_member(actor=None, organisation=organisation, user=user)
    return organisation


def docx_bytes(text="Art. 1 - Oggetto della convenzione.") -> bytes:
    document = docx.Document()
    document.add_paragraph(text)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def make_agreement(officer, subject="Convenzione per il servizio bibliotecario"):
    return services.agreement_create(
        actor=officer, subject=subject, kind=Agreement.Kind.CONVENZIONE
    )


def add_party(agreement, officer, *, name=None, signatory, title="Sindaco"):
    organisation = make_organisation(name, members=[signatory])
    party = services.agreement_add_party(
        actor=officer, agreement=agreement, organisation=organisation
    )
    services.agreement_add_signatory(
        actor=officer,
        agreement=agreement,
        party=party,
        user=signatory,
        title=title,
        authorising_act="Delibera di Giunta n. 12/2026",
    )
    return party


def shows(response, text) -> bool:
    """Whether the page shows ``text`` (as the template would escape it)."""
    return escape(str(text)) in response.content.decode()


@pytest.fixture
def mayor(db):
    return make_user("mayor", "signatory", first_name="Mario", last_name="Rossi")


@pytest.fixture
def rector(db):
    return make_user("rector", "signatory", first_name="Anna", last_name="Neri")


@pytest.fixture
def ready_agreement(officer, mayor, rector):
    """A draft with two parties, a signatory each, and a first version of the text."""
    agreement = make_agreement(officer)
    add_party(agreement, officer, name="Comune di Bologna", signatory=mayor)
    add_party(agreement, officer, name="Università di Bologna", signatory=rector, title="Rettrice")
    services.version_create(actor=officer, agreement=agreement, docx=docx_bytes(), note="Bozza")
    agreement.refresh_from_db()
    return agreement


@pytest.fixture
def in_review(ready_agreement, officer):
    services.agreement_submit_for_review(
        actor=officer, agreement=ready_agreement, expected_state="draft"
    )
    ready_agreement.refresh_from_db()
    return ready_agreement


@pytest.fixture
def browser(client):
    """Sign ``user`` in on the test client, in English unless another language is asked for.

    English is the language of the source strings, so assertions on messages hold whatever the
    Italian catalogue says.
    """

    def sign_in(user, language="en"):
        client.force_login(user)
        if language:
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        return client

    return sign_in


@pytest.fixture
def client_for():
    """A test client of its own, signed in as ``user`` (in English unless told otherwise), for
    tests where several people act in turn: ``browser`` signs everyone into one client."""
    from django.test import Client

    def sign_in(user, language="en"):
        client = Client()
        client.force_login(user)
        if language:
            client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        return client

    return sign_in
