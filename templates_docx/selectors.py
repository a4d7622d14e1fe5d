"""Reading the template library."""

import hashlib

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils.translation import gettext as _

from agreements.storage import read_bytes
from stipula.errors import DocumentRejected, NotFound
from templates_docx.models import DocxTemplate, TemplateVersion


def template_list(*, kind: str | None = None) -> list[DocxTemplate]:
    """Every template (of one kind, if given) by name, each with ``latest_version`` set (None
    for a template with no version yet). Two queries however many templates there are."""
    latest = (
        TemplateVersion.objects.filter(template=OuterRef("pk")).order_by("-number").values("pk")[:1]
    )
    templates = DocxTemplate.objects.annotate(latest_version_id=Subquery(latest)).order_by("name")
    if kind:
        templates = templates.filter(kind=kind)
    templates = list(templates)
    versions = TemplateVersion.objects.in_bulk(
        [t.latest_version_id for t in templates if t.latest_version_id]
    )
    for template in templates:
        template.latest_version = versions.get(template.latest_version_id)
        if template.latest_version is not None:
            template.latest_version.template = template
    return templates


def template_versions(template: DocxTemplate) -> QuerySet[TemplateVersion]:
    """The versions of one template, newest first."""
    return template.versions.select_related("uploaded_by").order_by("-number")


def template_version_get(*, name: str, number: int | None = None) -> TemplateVersion:
    """Version ``number`` of the template called ``name``, or its latest version; NotFound if
    there is none."""
    versions = TemplateVersion.objects.filter(template__name=name).select_related("template")
    version = (
        versions.filter(number=number).first()
        if number is not None
        else versions.order_by("-number").first()
    )
    if version is None:
        if number is None:
            raise NotFound(_("There is no template called «%(name)s».") % {"name": name})
        raise NotFound(
            _("The template «%(name)s» has no version %(number)d.")
            % {"name": name, "number": number}
        )
    return version


def template_version_by_id(pk: int) -> TemplateVersion:
    version = TemplateVersion.objects.select_related("template").filter(pk=pk).first()
    if version is None:
        raise NotFound(_("This template version does not exist."))
    return version


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def template_version_docx(version: TemplateVersion) -> bytes:
    """The DOCX of a version, after checking that it still has the hash recorded at upload."""
    data = read_bytes(version.docx.name)
    if sha256_hex(data) != version.sha256:
        raise DocumentRejected(
            _(
                "The stored file of template «%(name)s» v%(number)d no longer matches the "
                "fingerprint recorded when it was uploaded; it has been altered. Tell the "
                "administrator, and upload the template again."
            )
            % {"name": version.template.name, "number": version.number},
            reason="altered",
        )
    return data
