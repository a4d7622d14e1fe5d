import datetime
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from audit.bundle import bundle_filename, bundle_write
from stipula.errors import DomainError

from ._progress import ProgressBar


class Command(BaseCommand):
    help = (
        "Write an audit bundle (ZIP): events, checkpoints, timestamp tokens, the seal certificate "
        "and proofs, for `python -m audit.verify_bundle`. The whole log, one agreement, or a "
        "period (dates inclusive, Europe/Rome)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--agreement", type=int, help="only this agreement's events")
        parser.add_argument(
            "--from", dest="date_from", type=datetime.date.fromisoformat, help="YYYY-MM-DD"
        )
        parser.add_argument(
            "--to", dest="date_to", type=datetime.date.fromisoformat, help="YYYY-MM-DD"
        )
        parser.add_argument("-o", "--output", help="the file to write (default: a new name here)")
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="do not make a checkpoint first: the bundle stops at the latest one",
        )

    def handle(self, *args, **options):
        path = Path(options["output"] or bundle_filename())
        bar = ProgressBar(self.stderr, _("Events"))
        try:
            with path.open("wb") as file:
                result = bundle_write(
                    file,
                    actor=None,
                    agreement_id=options["agreement"],
                    date_from=options["date_from"],
                    date_to=options["date_to"],
                    make_checkpoint=not options["no_checkpoint"],
                    progress=bar,
                )
        except DomainError as error:
            path.unlink(missing_ok=True)
            raise CommandError(str(error)) from error
        finally:
            bar.close()
        self.stdout.write(
            _(
                "Audit bundle %(path)s: %(count)d events, checkpoint #%(number)d (events 1 to "
                "%(size)d), SHA-256 %(sha256)s."
            )
            % {
                "path": path,
                "count": result.events,
                "number": result.checkpoint,
                "size": result.tree_size,
                "sha256": result.sha256,
            }
        )
