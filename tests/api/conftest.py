"""Fixtures of the API tests: a client that authenticates with a real API token."""

import pytest
from rest_framework.test import APIClient

from api.models import ApiToken


@pytest.fixture
def api_for(db):
    """``api_for(user)`` -> an APIClient sending ``Authorization: Token …`` of a token issued to
    ``user``; ``api_for(None)`` -> a client with no credentials."""

    def make(user=None, *, language="en"):
        client = APIClient(HTTP_ACCEPT_LANGUAGE=language)
        if user is not None:
            _row, token = ApiToken.issue(user=user, name="tests")
            client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return client

    return make


def body(response) -> bytes:
    """The bytes of an answer, streamed (a file) or not."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture
def administrator(db):
    from tests.factories import make_user

    return make_user("admin.api", "administrator")


@pytest.fixture
def protocollo(db):
    """The shipped «Protocollo d'intesa» template, in the library."""
    from templates_docx.services import template_upload
    from templates_docx.shipped import shipped_template, shipped_template_path

    shipped = shipped_template("protocollo_intesa")
    return template_upload(
        actor=None,
        name=shipped.name,
        kind=shipped.kind,
        docx=shipped_template_path(shipped.key).read_bytes(),
        description=shipped.description,
    )


@pytest.fixture
def ready_agreement(officer):
    """An agreement in draft with two parties, each with a signatory who acts for it, and v1."""
    from tests.factories import make_ready_agreement

    return make_ready_agreement(officer)
