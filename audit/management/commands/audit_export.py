import datetime
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from audit.exports import FORMATS, EventFilter, export_filename, export_to
from stipula.errors import DomainError

from ._progress import ProgressBar


class Command(BaseCommand):
    help = (
        "Export a selection of the audit log as CSV, JSON Lines or a PDF report, streaming "
        "(constant memory), with a progress bar on stderr."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=FORMATS, required=True)
        parser.add_argument("--agreement", type=int, help="only this agreement's events")
        parser.add_argument("--actor", help="only the events of this user (username)")
        parser.add_argument(
            "--action", action="append", default=[], help="an action code; may be repeated"
        )
        parser.add_argument(
            "--from", dest="date_from", type=datetime.date.fromisoformat, help="YYYY-MM-DD"
        )
        parser.add_argument(
            "--to", dest="date_to", type=datetime.date.fromisoformat, help="YYYY-MM-DD"
        )
        parser.add_argument("-o", "--output", help="the file to write (default: a new name here)")
        parser.add_argument(
            "--by",
            help="the auditor who exports (username): the export is then recorded in the log",
        )

    def handle(self, *args, **options):
        actor = None
        if options["by"]:
            actor = get_user_model().objects.filter(username=options["by"]).first()
            if actor is None:
                raise CommandError(_("There is no user «%(name)s».") % {"name": options["by"]})
        fmt = options["format"]
        path = Path(options["output"] or export_filename(fmt))
        bar = ProgressBar(self.stderr, _("Rows"))
        try:
            filters = EventFilter(
                agreement_id=options["agreement"],
                actor_username=options["actor"] or "",
                actions=tuple(options["action"]),
                date_from=options["date_from"],
                date_to=options["date_to"],
            )
            with path.open("wb") as file:
                result = export_to(file, fmt, filters, actor=actor, progress=bar)
        except DomainError as error:
            path.unlink(missing_ok=True)
            raise CommandError(str(error)) from error
        finally:
            bar.close()
        self.stdout.write(
            _("Exported %(rows)d events to %(path)s (SHA-256 %(sha256)s).")
            % {"rows": result.rows, "path": path, "sha256": result.sha256}
        )
