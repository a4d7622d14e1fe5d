from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from stipula.errors import DomainError
from templates_docx import selectors, services
from templates_docx.shipped import SHIPPED_TEMPLATES, shipped_template_path


class Command(BaseCommand):
    help = (
        "Load the DOCX templates shipped with Stipula into the template library. Idempotent: a "
        "template whose latest version already has the shipped file's SHA-256 is left alone; a "
        "changed file becomes the template's next version."
    )

    def handle(self, *args, **options):
        library = {t.name: t for t in selectors.template_list()}
        for shipped in SHIPPED_TEMPLATES:
            data = shipped_template_path(shipped.key).read_bytes()
            existing = library.get(shipped.name)
            latest = existing.latest_version if existing else None
            if latest is not None and latest.sha256 == selectors.sha256_hex(data):
                self.stdout.write(
                    _("unchanged: %(name)s (v%(n)d)") % {"name": shipped.name, "n": latest.number}
                )
                continue
            try:
                version = services.template_upload(
                    actor=None,
                    name=shipped.name,
                    kind=shipped.kind,
                    docx=data,
                    description=shipped.description if existing is None else "",
                    note="Modello fornito con Stipula.",
                )
            except DomainError as error:
                raise CommandError(f"{shipped.name}: {error}") from None
            self.stdout.write(
                self.style.SUCCESS(
                    _("loaded: %(name)s (v%(n)d)") % {"name": shipped.name, "n": version.number}
                )
            )
