"""The template library: the DOCX templates legal officers draft agreements from.

Pages read through ``templates_docx.selectors`` and upload only through
``templates_docx.services.template_upload``; a refusal (a tag that does not parse, a file that is
not a Word document, ...) becomes a message on the page and the form keeps what was typed.
"""

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import exceptions
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from agreements.forms import DOCX_CONTENT_TYPE
from agreements.policies import can_use_template_library
from stipula.errors import DomainError, NotFound
from templates_docx import selectors, services
from templates_docx.context import COMPUTED_VARIABLES, user_variables
from templates_docx.forms import TemplateUploadForm


def _require_library(user) -> None:
    if not can_use_template_library(user):
        raise exceptions.PermissionDenied(
            _("Only legal officers and administrators use the template library.")
        )


def _variables(version) -> dict:
    if version is None:
        return {"user": [], "computed": []}
    return {
        "user": user_variables(version.variables),
        "computed": [name for name in version.variables if name in COMPUTED_VARIABLES],
    }


@login_required
@require_http_methods(["GET", "POST"])
def template_library(request):
    user = request.user
    _require_library(user)
    templates = selectors.template_list()
    if request.method == "POST":
        form = TemplateUploadForm(request.POST, request.FILES)
        if form.is_valid():
            data = form.cleaned_data
            try:
                version = services.template_upload(
                    actor=user,
                    name=data["name"],
                    kind=data["kind"],
                    docx=data["docx_bytes"],
                    description=data["description"],
                    note=data["note"],
                )
            except DomainError as error:
                messages.error(request, str(error))
            else:
                messages.success(
                    request,
                    _("«%(name)s» version %(number)d is in the library.")
                    % {"name": version.template.name, "number": version.number},
                )
                return redirect("template_library:detail", pk=version.template_id)
    else:
        # «Upload a new version» links here with the template's name and kind filled in.
        existing = next((t for t in templates if t.name == request.GET.get("name")), None)
        form = TemplateUploadForm(
            initial={"name": existing.name, "kind": existing.kind} if existing else None
        )
    return render(
        request,
        "templates_docx/library.html",
        {
            "rows": [(t, _variables(t.latest_version)) for t in templates],
            "form": form,
        },
    )


@login_required
@require_GET
def template_detail(request, pk: int):
    _require_library(request.user)
    template = next((t for t in selectors.template_list() if t.pk == pk), None)
    if template is None:
        raise Http404(_("There is no such template."))
    versions = [(v, _variables(v)) for v in selectors.template_versions(template)]
    return render(
        request,
        "templates_docx/detail.html",
        {"template": template, "versions": versions},
    )


@login_required
@require_GET
def template_version_download(request, pk: int):
    _require_library(request.user)
    try:
        version = selectors.template_version_by_id(pk)
    except NotFound as error:
        raise Http404(str(error)) from None
    try:
        data = selectors.template_version_docx(version)
    except FileNotFoundError:
        raise Http404(_("The file of this template is missing from the storage.")) from None
    except DomainError as error:
        messages.error(request, str(error))
        return redirect("template_library:detail", pk=version.template_id)
    return FileResponse(
        io.BytesIO(data),
        as_attachment=True,
        filename=f"{version.template.name} v{version.number}.docx",
        content_type=DOCX_CONTENT_TYPE,
    )
