import time

from django.core.management.base import BaseCommand

from webhooks.delivery import deliver_due
from webhooks.dispatch import dispatch_events


class Command(BaseCommand):
    help = (
        "Turn the audit events not read yet into webhook deliveries and send the deliveries that "
        "are due (retries included). Once, or with --loop every --interval seconds."
    )

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Run until interrupted.")
        parser.add_argument(
            "--interval", type=float, default=5.0, help="Seconds between runs (with --loop)."
        )

    def handle(self, *args, loop=False, interval=5.0, **options):
        while True:
            made = dispatch_events()
            sent = deliver_due()
            if not loop or made.deliveries or sent.delivered or sent.retrying or sent.failed:
                self.stdout.write(
                    f"audit events read up to #{made.cursor}: {made.deliveries} deliveries made; "
                    f"sent: {sent.delivered} delivered, {sent.retrying} to retry, "
                    f"{sent.failed} failed, {sent.cancelled} cancelled"
                )
            if not loop:
                return
            try:
                time.sleep(max(0.1, interval))
            except KeyboardInterrupt:
                return
