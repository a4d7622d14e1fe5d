from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from audit.checkpoints import checkpoint_make
from stipula.errors import DomainError


class Command(BaseCommand):
    help = (
        "Make an audit checkpoint: a Merkle tree head over the whole log, signed with the system "
        "seal and timestamped (STIPULA_TSA_URL). Run it at least daily from any scheduler."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reason", default="daily", help="why (stored with the checkpoint)")

    def handle(self, *args, **options):
        try:
            checkpoint = checkpoint_make(actor=None, reason=options["reason"])
        except DomainError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(
            _("Checkpoint #%(number)d: events 1 to %(size)d, Merkle root %(root)s.")
            % {
                "number": checkpoint.number,
                "size": checkpoint.tree_size,
                "root": checkpoint.root_hash,
            }
        )
        if checkpoint.timestamp_time is not None:
            self.stdout.write(
                _("Timestamped at %(time)s by %(url)s.")
                % {"time": checkpoint.timestamp_time.isoformat(), "url": checkpoint.tsa_url}
            )
        else:
            self.stderr.write(
                _("Warning: the checkpoint has no timestamp: %(problem)s")
                % {"problem": checkpoint.timestamp_error}
            )
