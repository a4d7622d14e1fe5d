"""Uploading templates: versions, immutability, refusals and their audit trail."""

import hashlib
from io import StringIO

import pytest
from django.core.files.storage import default_storage
from django.core.management import call_command

from agreements.models import Agreement
from agreements.storage import read_bytes
from audit.models import AuditEvent
from stipula.errors import DocumentRejected, NotFound, PermissionDenied, ValidationFailed
from templates_docx import selectors
from templates_docx.models import DocxTemplate, TemplateVersion
from templates_docx.rendering import TemplateSyntaxError
from templates_docx.services import template_render, template_upload
from templates_docx.shipped import SHIPPED_TEMPLATES, shipped_template_path
from tests.factories import make_user
from tests.templates_docx.conftest import docx_bytes, docx_text

pytestmark = pytest.mark.django_db

KIND = Agreement.Kind.CONVENZIONE
V1 = ("CONVENZIONE", "Art. 1 – Oggetto", "La presente Convenzione ha per oggetto {{ oggetto }}.")
V2 = (*V1, "{%p if clausola_recesso %}", "Art. 2 – Recesso", "{%p endif %}")


def upload(actor, *paragraphs, name="Convenzione semplice", **kwargs):
    return template_upload(
        actor=actor, name=name, kind=KIND, docx=docx_bytes(*paragraphs), **kwargs
    )


def stored_files() -> list[str]:
    if not default_storage.exists("templates"):
        return []
    folders, _files = default_storage.listdir("templates")
    return [f for folder in folders for f in default_storage.listdir(f"templates/{folder}")[1]]


def refusals():
    return list(AuditEvent.objects.filter(action="action.refused").order_by("seq"))


def test_a_legal_officer_uploads_a_new_template(officer):
    data = docx_bytes(*V1)
    version = template_upload(
        actor=officer,
        name="  Convenzione semplice ",
        kind=KIND,
        docx=data,
        description="Per le convenzioni brevi.",
        note="Prima stesura",
    )

    template = version.template
    assert (template.name, template.kind, template.created_by) == (
        "Convenzione semplice",
        KIND,
        officer,
    )
    assert template.description == "Per le convenzioni brevi."
    assert (version.number, version.note, version.uploaded_by) == (1, "Prima stesura", officer)
    assert version.variables == ["oggetto"]
    assert version.sha256 == hashlib.sha256(data).hexdigest()
    assert read_bytes(version.docx.name) == data
    assert version.sha256 in version.docx.name  # stored under its hash

    event = AuditEvent.objects.get(action="template.uploaded")
    assert (event.actor_username, event.actor_role) == (officer.username, "legal_officer")
    assert (event.object_type, event.object_id) == (
        "templates_docx.templateversion",
        str(version.pk),
    )
    assert event.payload_data == {
        "name": "Convenzione semplice",
        "kind": KIND,
        "number": 1,
        "variables": ["oggetto"],
        "note": "Prima stesura",
    }
    assert event.document_list == [
        {"name": "Convenzione semplice v1.docx", "sha256": version.sha256}
    ]


def test_a_new_upload_is_a_new_version_and_the_old_one_is_untouched(officer):
    v1 = upload(officer, *V1)
    v1_bytes, v1_hash, v1_name = read_bytes(v1.docx.name), v1.sha256, v1.docx.name

    v2 = upload(officer, *V2, note="Aggiunto il recesso")

    assert (v2.template_id, v2.number) == (v1.template_id, 2)
    assert v2.variables == ["clausola_recesso", "oggetto"]
    v1.refresh_from_db()
    assert (v1.sha256, v1.docx.name, v1.variables) == (v1_hash, v1_name, ["oggetto"])
    assert read_bytes(v1.docx.name) == v1_bytes
    assert hashlib.sha256(v1_bytes).hexdigest() == v1_hash
    assert DocxTemplate.objects.count() == 1
    assert [
        e.payload_data["number"] for e in AuditEvent.objects.filter(action="template.uploaded")
    ] == [1, 2]


def test_uploading_the_latest_bytes_again_is_refused_and_audited(officer):
    data = docx_bytes(*V1)
    template_upload(actor=officer, name="Convenzione semplice", kind=KIND, docx=data)

    with pytest.raises(ValidationFailed, match=r"identical to the latest version \(v1\)"):
        template_upload(actor=officer, name="Convenzione semplice", kind=KIND, docx=data)

    assert TemplateVersion.objects.count() == 1
    [refusal] = refusals()
    assert refusal.payload_data["attempted"] == "template.upload"
    assert refusal.object_type == "templates_docx.docxtemplate"


def test_going_back_to_an_earlier_text_makes_a_new_version(officer):
    v1 = upload(officer, *V1)
    upload(officer, *V2)
    v3 = template_upload(
        actor=officer, name="Convenzione semplice", kind=KIND, docx=read_bytes(v1.docx.name)
    )
    assert v3.number == 3
    assert (v3.sha256, v3.docx.name) == (v1.sha256, v1.docx.name)  # one file, stored once


def test_a_template_with_a_syntax_error_is_refused_and_nothing_is_stored(officer):
    broken = (
        "CONVENZIONE",
        "Art. 1 – Oggetto",
        "La presente Convenzione ha per oggetto {{ agreement.oggetto }.",
    )
    with pytest.raises(TemplateSyntaxError) as caught:
        upload(officer, *broken)

    error = caught.value
    assert "unexpected '}'" in str(error)
    assert "near «La presente Convenzione ha per oggetto {{ agreement.oggetto }.»" in str(error)
    assert DocxTemplate.objects.count() == 0
    assert TemplateVersion.objects.count() == 0
    assert stored_files() == []
    assert not AuditEvent.objects.filter(action="template.uploaded").exists()
    [refusal] = refusals()
    assert (refusal.actor_username, refusal.payload_data["attempted"]) == (
        officer.username,
        "template.upload",
    )
    assert refusal.payload_data["code"] == "template_syntax_error"
    assert refusal.payload_data["snippet"].startswith("La presente Convenzione ha per oggetto")
    assert refusal.payload_data["line"] == "4"


def test_a_file_that_is_not_a_docx_is_refused_and_nothing_is_stored(officer):
    with pytest.raises(DocumentRejected, match="The file is not a Word document"):
        template_upload(actor=officer, name="Testo", kind=KIND, docx=b"Convenzione\n")
    assert DocxTemplate.objects.count() == 0
    assert stored_files() == []
    assert refusals()[0].payload_data["reason"] == "not_zip"


def test_only_legal_officers_and_administrators_upload(officer):
    reviewer = make_user("rita.verdi", "reviewer")
    with pytest.raises(PermissionDenied, match="Only a legal officer or an administrator"):
        upload(reviewer, *V1)
    assert DocxTemplate.objects.count() == 0
    assert refusals()[0].actor_username == "rita.verdi"

    administrator = make_user("admin", "administrator")
    assert upload(administrator, *V1).template.created_by == administrator
    event = AuditEvent.objects.get(action="template.uploaded")
    assert event.actor_role == "administrator"


def test_the_system_uploads_with_no_actor():
    version = upload(None, *V1)
    assert version.uploaded_by is None
    assert AuditEvent.objects.get(action="template.uploaded").actor_role == "system"


def test_a_new_version_keeps_the_kind_and_the_description(officer):
    upload(officer, *V1, description="Per le convenzioni brevi.")
    with pytest.raises(ValidationFailed, match="is a template for «Convenzione» agreements"):
        template_upload(
            actor=officer,
            name="Convenzione semplice",
            kind=Agreement.Kind.PROTOCOLLO_INTESA,
            docx=docx_bytes(*V2),
        )
    with pytest.raises(ValidationFailed, match="description of a template is set when"):
        upload(officer, *V2, description="Altro")
    assert upload(officer, *V2, description="Per le convenzioni brevi.").number == 2


def test_an_unknown_kind_or_an_empty_name_is_refused(officer):
    with pytest.raises(ValidationFailed, match="kind of agreement"):
        template_upload(actor=officer, name="X", kind="contratto", docx=docx_bytes(*V1))
    with pytest.raises(ValidationFailed, match="name"):
        template_upload(actor=officer, name="  ", kind=KIND, docx=docx_bytes(*V1))
    assert DocxTemplate.objects.count() == 0


def test_render_fills_in_the_stored_version(officer):
    version = upload(officer, *V1)
    rendered = template_render(template_version=version, context={"oggetto": "A & B"})
    assert "La presente Convenzione ha per oggetto A & B." in docx_text(rendered)
    assert AuditEvent.objects.filter(action="template.uploaded").count() == 1  # nothing audited


def test_render_refuses_a_stored_file_that_was_altered(officer):
    version = upload(officer, *V1)
    path = default_storage.path(version.docx.name)
    with open(path, "wb") as handle:
        handle.write(docx_bytes("Testo sostituito {{ oggetto }}"))
    with pytest.raises(DocumentRejected, match="no longer matches the fingerprint"):
        template_render(template_version=version, context={"oggetto": "x"})


def test_the_library_lists_each_template_with_its_latest_version(
    officer, django_assert_num_queries
):
    upload(officer, *V1, name="B")
    upload(officer, *V2, name="B")
    upload(officer, *V1, name="A")
    with django_assert_num_queries(2):
        library = selectors.template_list()
        latest = [
            (t.name, t.latest_version.number, t.latest_version.template.name) for t in library
        ]
    assert latest == [("A", 1, "A"), ("B", 2, "B")]
    assert selectors.template_list(kind=Agreement.Kind.PROTOCOLLO_INTESA) == []


def test_getting_a_version(officer):
    upload(officer, *V1)
    upload(officer, *V2)
    assert selectors.template_version_get(name="Convenzione semplice").number == 2
    assert selectors.template_version_get(name="Convenzione semplice", number=1).number == 1
    with pytest.raises(NotFound, match="has no version 7"):
        selectors.template_version_get(name="Convenzione semplice", number=7)
    with pytest.raises(NotFound, match="no template called «Altro»"):
        selectors.template_version_get(name="Altro")


def test_load_templates_is_idempotent():
    out = StringIO()
    call_command("load_templates", stdout=out)
    assert out.getvalue().count("loaded:") == 3
    call_command("load_templates", stdout=(again := StringIO()))
    assert again.getvalue().count("unchanged:") == 3

    library = selectors.template_list()
    assert sorted(t.name for t in library) == sorted(s.name for s in SHIPPED_TEMPLATES)
    assert TemplateVersion.objects.count() == 3
    for shipped in SHIPPED_TEMPLATES:
        version = selectors.template_version_get(name=shipped.name)
        data = shipped_template_path(shipped.key).read_bytes()
        assert version.sha256 == hashlib.sha256(data).hexdigest()
        assert version.template.kind == shipped.kind
        assert version.template.created_by is None
        assert "agreement" in version.variables and "parties" in version.variables
    assert AuditEvent.objects.filter(action="template.uploaded").count() == 3
