"""What the signing, registry and audit parts of the API share: files going out (PDF, XML, ZIP…)
and coming in (uploads with a size limit), and the documented answers of those endpoints.

A download answers with the file's bytes and its own media type; an error on the same endpoint
answers in the one JSON error shape (api.errors), whatever the request's Accept header asked for
(the renderers below, like api.common's, only let such a request reach the view).
"""

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from api.common import ERRORS, MAX_ID, READ_ERRORS, FileRenderer

# Answers of actions that take a request body (415 included) and of downloads that can also be
# refused because a stored file was altered.
WRITE_ERRORS = ERRORS
DOWNLOAD_ERRORS = {**READ_ERRORS, 409: ERRORS[409], 422: ERRORS[422]}


class ZipRenderer(FileRenderer):
    media_type = "application/zip"
    format = "zip"


class XmlRenderer(FileRenderer):
    media_type = "application/xml"
    format = "xml"


class CsvRenderer(FileRenderer):
    media_type = "text/csv"
    format = "csv"


class NdjsonRenderer(FileRenderer):
    media_type = "application/x-ndjson"
    format = "jsonl"


class OctetRenderer(FileRenderer):
    media_type = "application/octet-stream"
    format = "bin"


class UploadField(serializers.FileField):
    """An uploaded file, read into bytes; refused when empty or over ``max_bytes`` (by its
    declared size, before it is read)."""

    def __init__(self, *, max_bytes: int, **kwargs):
        self.max_bytes = max_bytes
        kwargs.setdefault("allow_empty_file", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        upload = super().to_internal_value(data)
        if upload.size > self.max_bytes:
            raise serializers.ValidationError(
                _("The file is larger than %(size)d MB.")
                % {"size": max(1, self.max_bytes // (1024 * 1024))}
            )
        content = upload.read()
        if not content:
            raise serializers.ValidationError(_("The file is empty."))
        return content


def id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# Lists answered through api.pagination.Pagination by plain APIViews: their envelope and query
# parameters, which drf-spectacular adds by itself only for generic list views.
PAGE_PARAMETERS = [
    OpenApiParameter("page", OpenApiTypes.INT, OpenApiParameter.QUERY, description="From 1."),
    OpenApiParameter(
        "page_size", OpenApiTypes.INT, OpenApiParameter.QUERY, description="At most 200."
    ),
]
_PAGES: dict = {}


def paged(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The page envelope (count, next, previous, results) of a list of ``item``."""
    if item not in _PAGES:
        _PAGES[item] = type(
            f"Paginated{item.__name__.removesuffix('Serializer')}List",
            (serializers.Serializer,),
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": item(many=True),
            },
        )
    return _PAGES[item]
