"""Bad input on the drafting path: refused with a clear message, nothing stored, audited."""

import io
import zipfile

import pytest

from agreements import services
from agreements.models import AgreementVersion
from audit.models import AuditAction
from stipula.errors import DocumentRejected, DomainError
from templates_docx.services import template_upload
from tests.factories import events_for, make_ready_agreement, sample_docx
from tests.templates_docx.conftest import docx_bytes

pytestmark = pytest.mark.django_db


def rewrite(docx: bytes, **parts: bytes) -> bytes:
    """The same DOCX with some parts replaced or added."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(docx)) as source, zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            target.writestr(name, parts.pop(name, None) or source.read(name))
        for name, body in parts.items():
            target.writestr(name, body)
    return buffer.getvalue()


def assert_refused_and_audited(agreement, attempted, before_versions):
    agreement.refresh_from_db()
    assert agreement.versions.count() == before_versions
    assert agreement.current_version.number == before_versions
    refusal = events_for(agreement, AuditAction.ACTION_REFUSED)[-1]
    assert refusal.payload_data["attempted"] == attempted
    return refusal


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: b"", "empty"),
        (lambda: b"%PDF-1.7\n...", "PDF, not a Word document"),
        (lambda: sample_docx()[:300], "damaged"),
        (lambda: rewrite(sample_docx(), **{"word/vbaProject.bin": b"macro"}), "macros"),
        (lambda: b"PK\x03\x04" + b"\x00" * 40, "damaged"),
    ],
)
def test_a_bad_upload_is_refused(officer, make, message):
    agreement = make_ready_agreement(officer)

    with pytest.raises(DocumentRejected) as refused:
        services.version_create(actor=officer, agreement=agreement, docx=make())

    assert message in str(refused.value).lower() or message in str(refused.value)
    assert_refused_and_audited(agreement, "agreement.create_version", 1)


def test_an_oversized_upload_is_refused(officer, settings):
    agreement = make_ready_agreement(officer)
    big = rewrite(sample_docx(), **{"word/media/padding.bin": bytes(range(256)) * 200})
    settings.STIPULA_MAX_DOCX_BYTES = len(big) - 1

    with pytest.raises(DocumentRejected, match="limit"):
        services.version_create(actor=officer, agreement=agreement, docx=big)
    assert_refused_and_audited(agreement, "agreement.create_version", 1)


def test_a_docx_libreoffice_cannot_read_is_refused(officer):
    agreement = make_ready_agreement(officer)
    broken = rewrite(sample_docx(), **{"word/document.xml": b"<w:document>not XML"})

    with pytest.raises(DocumentRejected) as refused:
        services.version_create(actor=officer, agreement=agreement, docx=broken)

    assert "Word" in str(refused.value)
    assert_refused_and_audited(agreement, "agreement.create_version", 1)


def test_a_missing_template_value_names_the_variable(officer):
    agreement = make_ready_agreement(officer)
    template = template_upload(
        actor=officer,
        name="Convenzione breve",
        kind="convenzione",
        docx=docx_bytes("{{ agreement.oggetto }}", "Sede: {{ sede_legale }}"),
    )

    with pytest.raises(DomainError) as refused:
        services.version_render(
            actor=officer, agreement=agreement, template_version=template, data={}
        )

    assert "sede_legale" in str(refused.value)
    refusal = assert_refused_and_audited(agreement, "agreement.render_version", 1)
    assert "sede_legale" in refusal.payload_data["message"]


def test_rendering_with_changed_data_makes_a_new_version_and_keeps_the_old(officer):
    agreement = make_ready_agreement(officer)
    template = template_upload(
        actor=officer,
        name="Convenzione breve",
        kind="convenzione",
        docx=docx_bytes("{{ agreement.oggetto }}", "Sede: {{ sede_legale }}"),
    )
    first = services.version_render(
        actor=officer, agreement=agreement, template_version=template, data={"sede_legale": "A"}
    )
    second = services.version_render(
        actor=officer, agreement=agreement, template_version=template, data={"sede_legale": "B"}
    )

    first_again = AgreementVersion.objects.get(pk=first.pk)
    assert (first_again.docx_sha256, first_again.pdf_sha256) == (
        first.docx_sha256,
        first.pdf_sha256,
    )
    assert second.parent == first and second.data == {"sede_legale": "B"}
    assert first.docx_sha256 != second.docx_sha256
    rendered = events_for(agreement, AuditAction.VERSION_RENDERED)[-1]
    assert rendered.payload_data["data"] == {"sede_legale": "B"}
    assert {"name": "template.docx", "sha256": template.sha256} in rendered.document_list
