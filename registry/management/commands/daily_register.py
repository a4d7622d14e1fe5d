import datetime

from django.core.management.base import BaseCommand, CommandError

from registry.daily import produce_missing
from registry.services import daily_register_produce
from stipula.errors import DomainError


class Command(BaseCommand):
    help = (
        "Produce the daily register (registro giornaliero): by default every day up to yesterday "
        "that has none yet; with --date, that day (today closes today's register)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", type=datetime.date.fromisoformat, help="YYYY-MM-DD")

    def handle(self, *args, date=None, **options):
        try:
            if date is not None:
                produced = [daily_register_produce(actor=None, day=date)]
            else:
                produced = produce_missing()
        except DomainError as error:
            raise CommandError(str(error)) from None
        for register in produced:
            self.stdout.write(
                f"{register.day.isoformat()}: {register.registrations} registrations, "
                f"{register.annulments} annulments, {register.changes} changes; "
                f"PDF sha256 {register.pdf_sha256}"
            )
        if not produced:
            self.stdout.write("Nothing to produce: every past day has its daily register.")
