import json
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from templates_docx.conversion import (
    ConversionFailed,
    converter_socket_path,
    converter_status,
    worker_command,
)


class Command(BaseCommand):
    help = (
        "Run the warm DOCX to PDF converter in the foreground: one LibreOffice kept running, "
        "serving docx_to_pdf over a Unix socket (STIPULA_CONVERTER_SOCKET). Stop it with "
        "Ctrl-C or SIGTERM; in production run it under a supervisor (systemd) that restarts it."
    )
    # A file-conversion service: the URL configuration and models are none of its business.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument(
            "--socket", help="Unix socket to listen on (default: STIPULA_CONVERTER_SOCKET)"
        )
        parser.add_argument(
            "--status", action="store_true", help="report on the running converter and exit"
        )

    def handle(self, *args, **options):
        socket_path = options["socket"] or converter_socket_path()
        if options["status"]:
            try:
                status = converter_status(socket_path)
            except ConversionFailed as error:
                raise CommandError(f"{error} ({error.details.get('reason')})") from None
            self.stdout.write(json.dumps({"socket": str(socket_path), **status}))
            return
        command = worker_command(socket_path, verbose=options["verbosity"] >= 2)
        if not os.access(command[0], os.X_OK):
            raise CommandError(
                f"{command[0]} not found: the converter runs under Debian's python3 with "
                "python3-uno (scripts/setup installs them; STIPULA_UNO_PYTHON names another)"
            )
        self.stdout.write(f"Starting the converter on {socket_path}")
        sys.stdout.flush()
        sys.stderr.flush()
        # Replace this process, so that signals from a supervisor reach the converter itself.
        os.execv(command[0], command)  # noqa: S606 - our own argument list, no shell
