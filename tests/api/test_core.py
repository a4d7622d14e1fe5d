"""What every endpoint shares: authentication, the error shape, pagination, the schema and its
documentation pages."""

import json

import pytest
from django.conf import settings
from django.test import RequestFactory
from django.urls import include, path
from django.utils import timezone
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.plumbing import _load_enum_name_overrides
from drf_spectacular.settings import patched_settings
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from agreements.models import Agreement
from api import agreements as agreements_api
from api.errors import handler404
from api.models import ApiToken
from api.serializers import ENUM_NAME_OVERRIDES
from audit.models import AuditAction, AuditEvent
from tests.factories import events_for, make_agreement, make_user

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"
AGREEMENTS = "/api/v1/agreements/"


def error_of(response) -> dict:
    """The error of an answer, checking that it has the one error shape."""
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    data = response.json()
    assert set(data) == {"error"}
    assert set(data["error"]) == {"code", "message", "details", "fields"}
    assert data["error"]["message"]
    return data["error"]


# Authentication --------------------------------------------------------------------------


def test_no_credentials_is_401_in_the_error_shape(api_for):
    response = api_for(None).get(ME)
    assert response.status_code == 401
    assert error_of(response)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Token")


def test_a_token_identifies_its_user(api_for, officer):
    response = api_for(officer).get(ME)
    assert response.status_code == 200
    me = response.json()
    assert me["username"] == "officer"
    assert me["full_name"] == "Laura Bianchi"
    assert me["roles"] == [{"code": "legal_officer", "label": "Legal officer"}]
    assert me["can_create_agreements"] is True
    assert ApiToken.objects.get(user=officer).last_used_at is not None


def test_unknown_revoked_and_expired_tokens_are_refused(officer):
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    client.credentials(HTTP_AUTHORIZATION="Token stp_not-a-token")
    response = client.get(ME)
    assert response.status_code == 401
    assert error_of(response)["code"] == "authentication_failed"

    row, token = ApiToken.issue(user=officer, name="erp")
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(ME).status_code == 200
    ApiToken.objects.filter(pk=row.pk).update(revoked_at=timezone.now())
    response = client.get(ME)
    assert response.status_code == 401
    assert "revoked" in error_of(response)["message"]

    _row, expired = ApiToken.issue(
        user=officer, name="old", expires_at=timezone.now() - timezone.timedelta(days=1)
    )
    client.credentials(HTTP_AUTHORIZATION=f"Token {expired}")
    assert client.get(ME).status_code == 401

    client.credentials(HTTP_AUTHORIZATION="Token two words")
    assert error_of(client.get(ME))["code"] == "authentication_failed"


def test_the_browser_session_works_and_writes_need_the_csrf_token(officer):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(officer)
    assert client.get(ME).json()["username"] == "officer"

    new = {"subject": "Convenzione per la biblioteca", "kind": "convenzione"}
    refused = client.post(AGREEMENTS, new, format="json")
    assert refused.status_code == 403
    assert "CSRF" in error_of(refused)["message"]
    assert not Agreement.objects.exists()

    secret = "a" * 32
    client.cookies[settings.CSRF_COOKIE_NAME] = secret
    created = client.post(AGREEMENTS, new, format="json", HTTP_X_CSRFTOKEN=secret)
    assert created.status_code == 201
    assert created.json()["state"] == "draft"


# The error shape ---------------------------------------------------------------------------


def test_a_transition_not_allowed_is_409_names_the_state_and_is_audited(api_for, officer):
    agreement = make_agreement(officer)
    response = api_for(officer).post(
        f"{AGREEMENTS}{agreement.pk}/transitions/complete_signing/",
        {"expected_state": "draft"},
        format="json",
    )
    assert response.status_code == 409
    error = error_of(response)
    assert error["code"] == "transition_not_allowed"
    assert (
        "«Complete signing» is not possible while the agreement is in state «Draft»"
        in (error["message"])
    )
    assert error["details"] == {"state": "draft"}
    refusal = events_for(agreement, AuditAction.ACTION_REFUSED)[-1]
    assert refusal.actor_username == "officer"
    assert refusal.payload_data["attempted"] == "agreement.complete_signing"
    assert refusal.payload_data["code"] == "transition_not_allowed"
    agreement.refresh_from_db()
    assert agreement.state == "draft"


def test_someone_elses_change_is_409_concurrent_change(api_for, officer, ready_agreement):
    response = api_for(officer).post(
        f"{AGREEMENTS}{ready_agreement.pk}/transitions/submit_for_review/",
        {"expected_state": "negotiation"},
        format="json",
    )
    assert response.status_code == 409
    assert error_of(response)["code"] == "concurrent_change"


def test_permission_denied_is_403_and_audited(api_for, officer, reviewer):
    agreement = make_agreement(officer)
    response = api_for(reviewer).post(
        f"{AGREEMENTS}{agreement.pk}/transitions/withdraw/",
        {"expected_state": "draft", "reason": "Non serve più"},
        format="json",
    )
    assert response.status_code == 403
    error = error_of(response)
    assert error["code"] == "permission_denied"
    assert "responsible legal officer or an administrator" in error["message"]
    refusal = events_for(agreement, AuditAction.ACTION_REFUSED)[-1]
    assert refusal.actor_username == "reviewer"


def test_an_invalid_body_is_400_with_the_fields_to_correct(api_for, officer):
    response = api_for(officer).post(
        AGREEMENTS, {"kind": "contratto", "valid_from": "ieri"}, format="json"
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == {"subject", "kind", "valid_from"}
    assert error["fields"]["subject"] == ["This field is required."]

    # A rule of the service (the end of validity before its start) is a 400 too.
    response = api_for(officer).post(
        AGREEMENTS,
        {
            "subject": "Patto",
            "kind": "convenzione",
            "valid_from": "2027-01-01",
            "valid_until": "2026-01-01",
        },
        format="json",
    )
    assert response.status_code == 400
    assert "must not precede" in error_of(response)["message"]


def test_unknown_transition_and_invisible_agreement_are_404(api_for, officer):
    agreement = make_agreement(officer)
    stranger = make_user("stranger", "signatory")
    response = api_for(officer).post(
        f"{AGREEMENTS}{agreement.pk}/transitions/sign_everything/",
        {"expected_state": "draft"},
        format="json",
    )
    assert response.status_code == 404
    assert error_of(response)["message"] == "There is no such action."

    client = api_for(stranger)
    base = f"{AGREEMENTS}{agreement.pk}/"
    for url in (base, f"{base}versions/", f"{base}timeline/", f"{base}rounds/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert error_of(response)["message"] == (
            "There is no such agreement, or you may not see it."
        )
    response = client.post(
        f"{base}transitions/withdraw/", {"expected_state": "draft", "reason": "x"}, format="json"
    )
    assert response.status_code == 404
    assert client.get(AGREEMENTS).json()["count"] == 0


@pytest.mark.parametrize(
    "url",
    [
        f"{AGREEMENTS}{2**70}/",
        f"{AGREEMENTS}{2**63}/versions/{2**64}/",
        f"{AGREEMENTS}{2**63}/versions/{2**64}/pdf/",
        f"{AGREEMENTS}0/rounds/{2**80}/",
        f"{AGREEMENTS}{2**63 - 1}/proposals/{2**63}/",
        f"/api/v1/templates/{2**70}/",
    ],
)
def test_huge_ids_are_404_not_500(api_for, administrator, url):
    response = api_for(administrator).get(url)
    assert response.status_code == 404
    error_of(response)


@pytest.mark.parametrize(
    "query",
    [
        "party=abc",
        f"party={2**70}",
        "state=nowhere",
        "kind=1",
        "q=%00",
        "page=abc",
        "page=99",
        "page_size=abc&ordering=nonsense",
    ],
)
def test_garbage_in_the_query_is_an_error_in_the_shape_or_ignored(api_for, officer, query):
    make_agreement(officer)
    response = api_for(officer).get(f"{AGREEMENTS}?{query}")
    assert response.status_code in (200, 400, 404), response.content
    if response.status_code != 200:
        error_of(response)


def test_garbage_in_the_body_is_400_or_415(api_for, officer, ready_agreement):
    client = api_for(officer)
    base = f"{AGREEMENTS}{ready_agreement.pk}/"
    empty_multipart = client.post(f"{base}versions/", {}, format="multipart")
    assert empty_multipart.status_code == 400
    assert "docx" in error_of(empty_multipart)["fields"]
    json_upload = client.post(f"{base}versions/", {"docx": "x"}, format="json")
    assert json_upload.status_code == 415
    assert error_of(json_upload)["code"] == "unsupported_media_type"
    for bad in (
        {"expected_state": 12, "reason": ["a"]},
        {"expected_state": "draft", "reason": {"a": 1}},
        [],
        "text",
    ):
        response = client.post(f"{base}transitions/withdraw/", bad, format="json")
        assert response.status_code == 400, bad
        error_of(response)
    broken = client.post(
        f"{base}transitions/withdraw/", "{not json", content_type="application/json"
    )
    assert broken.status_code == 400
    assert error_of(broken)["code"] == "parse_error"
    for bad in (
        {"organisation": 2**70},
        {"organisation": "abc"},
        {"organisation": None},
        {"organisation": [1]},
    ):
        response = client.post(f"{base}parties/", bad, format="json")
        assert response.status_code == 400, bad
        assert "organisation" in error_of(response)["fields"]
    response = client.post(
        f"{base}versions/from-template/",
        {"template_version": 2**70, "data": {"a": "\x00"}},
        format="json",
    )
    assert response.status_code == 400
    assert set(error_of(response)["fields"]) == {"template_version", "data"}
    response = client.post(
        f"{base}rounds/", {"invitees": ["x", -1], "version": 2**40}, format="json"
    )
    assert response.status_code == 400
    fields = error_of(response)["fields"]
    assert "invitees.0" in fields and "invitees.1" in fields and "version" in fields


def test_a_file_download_answers_errors_in_json_even_if_a_file_was_asked(api_for, officer):
    response = api_for(officer).get(
        f"{AGREEMENTS}{2**40}/versions/1/pdf/", HTTP_ACCEPT="application/pdf"
    )
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


def test_errors_speak_the_language_of_the_request(api_for, officer):
    agreement = make_agreement(officer)
    response = api_for(officer, language="it").post(
        f"{AGREEMENTS}{agreement.pk}/transitions/complete_signing/",
        {"expected_state": "draft"},
        format="json",
    )
    assert response.status_code == 409
    assert "Bozza" in error_of(response)["message"]


def test_unknown_api_urls_can_answer_in_the_error_shape():
    # For stipula/urls.py's handler404 (URLs that no view matches, e.g. /api/v1/agreements/-1/).
    response = handler404(RequestFactory().get("/api/v1/agreements/-1/"), None)
    assert response.status_code == 404
    assert json.loads(response.content)["error"]["code"] == "not_found"
    page = handler404(RequestFactory().get("/nowhere/"), Exception())
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")


# Pagination ------------------------------------------------------------------------------


def test_lists_are_paginated(api_for, officer):
    for n in range(3):
        make_agreement(officer, subject=f"Convenzione {n}")
    client = api_for(officer)
    first = client.get(f"{AGREEMENTS}?page_size=2").json()
    assert first["count"] == 3
    assert [a["subject"] for a in first["results"]] == ["Convenzione 2", "Convenzione 1"]
    assert first["previous"] is None and "page=2" in first["next"]
    second = client.get(first["next"]).json()
    assert [a["subject"] for a in second["results"]] == ["Convenzione 0"]
    assert second["next"] is None
    capped = client.get(f"{AGREEMENTS}?page_size=100000").json()
    assert len(capped["results"]) == 3


# Schema and documentation ------------------------------------------------------------------


def test_the_schema_of_the_agreements_api_is_valid_and_warning_free():
    """What `manage.py spectacular --validate --fail-on-warn` checks, for this part of the API
    (with the enum names that settings.SPECTACULAR_SETTINGS needs, see api/serializers.py)."""
    patterns = [path("api/", include(([path("v1/", include(agreements_api.urlpatterns))], "api")))]
    GENERATOR_STATS.reset()
    _load_enum_name_overrides.cache_clear()
    try:
        with patched_settings({"ENUM_NAME_OVERRIDES": ENUM_NAME_OVERRIDES}):
            schema = SchemaGenerator(patterns=patterns).get_schema(request=None, public=True)
            validate_schema(schema)
    finally:
        _load_enum_name_overrides.cache_clear()
    assert not GENERATOR_STATS, "drf-spectacular warned or failed: see the output above"
    pdf = schema["paths"]["/api/v1/agreements/{id}/versions/{number}/pdf/"]["get"]
    assert pdf["responses"]["200"]["content"] == {
        "application/pdf": {"schema": {"type": "string", "format": "binary"}}
    }
    assert set(pdf["responses"]["404"]["content"]) == {"application/json"}
    upload = schema["paths"]["/api/v1/agreements/{id}/versions/"]["post"]["requestBody"]
    assert set(upload["content"]) == {"multipart/form-data"}
    for item in schema["paths"].values():
        for method, operation in item.items():
            if method in ("get", "post"):
                assert operation["tags"] and operation["security"], operation["operationId"]
                assert "401" in operation["responses"], operation["operationId"]


def test_schema_and_documentation_pages_are_served_from_this_server(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/agreements/{id}/transitions/{name}/" in schema.content
    for url in ("/api/docs/", "/api/redoc/"):
        page = client.get(url)
        assert page.status_code == 200, url
        html = page.content.decode()
        assert "drf_spectacular_sidecar" in html, url
        assert "cdn." not in html and "unpkg" not in html, url


def test_refusals_in_the_api_are_audited_once(api_for, officer, reviewer):
    agreement = make_agreement(officer)
    before = AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED).count()
    api_for(reviewer).post(
        f"{AGREEMENTS}{agreement.pk}/transitions/open_negotiation/",
        {"expected_state": "draft"},
        format="json",
    )
    assert AuditEvent.objects.filter(action=AuditAction.ACTION_REFUSED).count() == before + 1
