from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from audit.selectors import verify_chain


class Command(BaseCommand):
    help = "Recompute the audit hash chain from the first event and report the first mismatch."

    def handle(self, *args, **options):
        status = verify_chain()
        if status.ok:
            self.stdout.write(
                _("Audit chain OK: %(count)d events, head hash %(hash)s")
                % {"count": status.count, "hash": status.head_hash}
            )
            return
        self.stderr.write(
            _("Audit chain BROKEN at event %(seq)d: %(problem)s")
            % {"seq": status.first_bad_seq, "problem": status.problem}
        )
        raise SystemExit(1)
