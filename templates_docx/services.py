"""Business actions on the template library.

A template version is immutable: there is no function to change or delete one. Uploading a file
under an existing name adds the next version; uploading the very bytes of the latest version again
is refused (there would be nothing new to record), while going back to an older text is allowed
and makes a new version with that text.
"""

import hashlib

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from agreements.roles import Role, has_role
from agreements.storage import store_bytes
from audit import services as audit_services
from audit.services import record_event
from stipula.errors import ConcurrentChange, PermissionDenied, ValidationFailed
from stipula.validation import full_clean
from templates_docx import selectors
from templates_docx.docx_safety import check_docx
from templates_docx.models import DocxTemplate, TemplateVersion
from templates_docx.rendering import render_docx, template_variables

# The stored value of audit.models.AuditAction.TEMPLATE_UPLOADED.
TEMPLATE_UPLOADED = "template.uploaded"


def _about_template(kwargs) -> dict:
    """File a refused upload under the template when its name is already in the library."""
    name = str(kwargs.get("name", "")).strip()
    template = DocxTemplate.objects.filter(name=name).first() if name else None
    return {"obj": template} if template else {"object_type": "templates_docx.docxtemplate"}


def audited_refusals(attempted: str):
    return audit_services.audited_refusals(attempted, locate=_about_template)


def _require_uploader(actor) -> str:
    """The role the actor uploads in; refuse anyone but legal officers and administrators."""
    if actor is None:
        return "system"
    if has_role(actor, Role.LEGAL_OFFICER):
        return Role.LEGAL_OFFICER.value
    if has_role(actor, Role.ADMINISTRATOR):
        return Role.ADMINISTRATOR.value
    raise PermissionDenied(_("Only a legal officer or an administrator can upload templates."))


def _locked_template(name: str) -> DocxTemplate | None:
    return (
        DocxTemplate.objects.select_for_update(no_key=True, of=("self",)).filter(name=name).first()
    )


def _check_same_template(template: DocxTemplate, *, kind: str, description: str) -> None:
    if template.kind != kind:
        raise ValidationFailed(
            _(
                "«%(name)s» is a template for «%(kind)s» agreements. Upload this file under "
                "another name, or choose that kind."
            )
            % {"name": template.name, "kind": template.get_kind_display()}
        )
    if description and description != template.description:
        raise ValidationFailed(
            _(
                "The description of a template is set when it is first uploaded and does not "
                "change. Leave it empty and say what changed in the note of the version."
            )
        )


@audited_refusals("template.upload")
def template_upload(
    *,
    actor,
    name: str,
    kind: str,
    docx: bytes,
    description: str = "",
    note: str = "",
) -> TemplateVersion:
    """Add a DOCX template to the library: a new template if the name is new, else its next
    version. The file is checked and its tags parsed before anything is written, so a refused
    file leaves no template, no version and no stored file behind."""
    role = _require_uploader(actor)
    name, description, note = name.strip(), description.strip(), note.strip()
    candidate = DocxTemplate(name=name, kind=kind, description=description, created_by=actor)
    full_clean(candidate, validate_unique=False)
    # Checked and parsed before the transaction: no lock is held while the file is read.
    check_docx(docx)
    variables = template_variables(docx)
    sha256 = hashlib.sha256(docx).hexdigest()
    with transaction.atomic(durable=True):
        template = _locked_template(name)
        if template is None:
            template = _create(candidate)
        else:
            _check_same_template(template, kind=kind, description=description)
        latest = template.versions.order_by("-number").first()
        if latest is not None and latest.sha256 == sha256:
            raise ValidationFailed(
                _(
                    "This file is identical to the latest version (v%(number)d) of «%(name)s»: "
                    "there is nothing new to store."
                )
                % {"number": latest.number, "name": name}
            )
        stored_name, _digest = store_bytes(docx, folder="templates", extension="docx")
        version = TemplateVersion.objects.create(
            template=template,
            number=(latest.number + 1) if latest else 1,
            docx=stored_name,
            sha256=sha256,
            variables=variables,
            note=note,
            uploaded_by=actor,
        )
        _template_uploaded(actor=actor, version=version, role=role)
    return version


def _create(candidate: DocxTemplate) -> DocxTemplate:
    try:
        with transaction.atomic():
            candidate.save()
    except IntegrityError:
        raise ConcurrentChange(
            _(
                "Someone else uploaded a template named «%(name)s» at the same moment. "
                "Reload the template library and upload again if needed."
            )
            % {"name": candidate.name}
        ) from None
    return candidate


def _template_uploaded(*, actor, version: TemplateVersion, role: str):
    template = version.template
    return record_event(
        actor=actor,
        action=TEMPLATE_UPLOADED,
        obj=version,
        role=role,
        payload={
            "name": template.name,
            "kind": template.kind,
            "number": version.number,
            "variables": version.variables,
            "note": version.note,
        },
        documents=[{"name": f"{template.name} v{version.number}.docx", "sha256": version.sha256}],
    )


def template_render(*, template_version: TemplateVersion, context: dict) -> bytes:
    """Fill a template version with ``context`` (see templates_docx.context) and return the DOCX.

    Pure: it writes nothing and audits nothing; the caller records the version it makes.
    """
    return render_docx(selectors.template_version_docx(template_version), context)
