"""The REST API, version 1, under /api/v1/; its OpenAPI 3 schema at /api/schema/ and its browsable
documentation at /api/docs/ (Swagger UI) and /api/redoc/ (ReDoc), served from this server."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from api import agreements, audit, registry, signing, workflow
from webhooks import api as webhooks

app_name = "api"

v1 = [
    *agreements.urlpatterns,
    *workflow.urlpatterns,
    *signing.urlpatterns,
    *registry.urlpatterns,
    *audit.urlpatterns,
    *webhooks.urlpatterns,
]

urlpatterns = [
    path("v1/", include(v1)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api:schema"), name="redoc"),
]
