"""Send the reminders and escalations that are due (workflow.deadlines).

Run it from cron or a systemd timer when Celery beat is not used, e.g. every 15 minutes:

    */15 * * * *  cd /srv/stipula && .venv/bin/python manage.py workflow_deadlines
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from workflow.deadlines import run_deadlines


class Command(BaseCommand):
    help = "Send the task reminders and escalations that are due."

    def add_arguments(self, parser):
        parser.add_argument(
            "--now",
            help="Act as if it were this time (ISO 8601 with offset, e.g. 2026-12-01T09:00+01:00).",
        )

    def handle(self, *args, now=None, **options):
        moment = None
        if now:
            moment = parse_datetime(now)
            if moment is None or moment.tzinfo is None:
                raise CommandError("--now must be an ISO 8601 time with its UTC offset")
        result = run_deadlines(now=moment)
        self.stdout.write(f"reminded {result.reminded}, escalated {result.escalated}")
