"""Validate again every pending (INDETERMINATE) signature of agreements being signed.

Meant for a scheduler (cron, Celery beat): a signature left pending because a revocation service
was unreachable (TRY_LATER) passes once it answers, and the last one completes the agreement.
"""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from agreements.models import AgreementState
from signing.models import Signature, latest_indication
from signing.services import signature_revalidate
from stipula.errors import DomainError


class Command(BaseCommand):
    help = "Validate again every pending (INDETERMINATE) signature of agreements being signed."

    def handle(self, *args, **options):
        pending = (
            Signature.objects.annotate(current=latest_indication())
            .filter(
                current=Signature.Indication.INDETERMINATE,
                signatory__party__agreement__state=AgreementState.SIGNATURE,
            )
            .select_related("signatory__party__agreement")
            .order_by("pk")
        )
        counts = {"PASSED": 0, "INDETERMINATE": 0, "FAILED": 0, "error": 0}
        for signature in pending:
            try:
                validation = signature_revalidate(actor=None, signature=signature)
            except DomainError as error:
                counts["error"] += 1
                self.stderr.write(
                    _("Signature %(id)s of %(name)s: %(error)s")
                    % {"id": signature.pk, "name": signature.signatory.full_name, "error": error}
                )
                continue
            counts[validation.indication] += 1
            self.stdout.write(
                _("Signature %(id)s of %(name)s: %(indication)s %(sub)s")
                % {
                    "id": signature.pk,
                    "name": signature.signatory.full_name,
                    "indication": validation.indication,
                    "sub": validation.sub_indication,
                }
            )
        self.stdout.write(
            _(
                "Validated again: %(passed)d passed, %(pending)d still pending, %(failed)d "
                "failed, %(errors)d not possible."
            )
            % {
                "passed": counts["PASSED"],
                "pending": counts["INDETERMINATE"],
                "failed": counts["FAILED"],
                "errors": counts["error"],
            }
        )
