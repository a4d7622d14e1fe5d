"""Public pages of the registry, no login (the seed's «diffusione dei risultati»)."""

from django.urls import path

from registry import views_public as views

app_name = "registry_public"

urlpatterns = [
    path("", views.index, name="index"),
    path("verifica/", views.verify, name="verify"),
    path("opendata.csv", views.opendata_csv, name="csv"),
    path("opendata.json", views.opendata_json, name="json"),
    path("feed.atom", views.feed, name="feed"),
    path("<str:code>/<int:year>/<int:number>/", views.registration, name="registration"),
    path("<str:code>/<int:year>/<int:number>/documento.pdf", views.document, name="document"),
]
