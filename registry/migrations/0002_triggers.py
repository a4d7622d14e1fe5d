"""The database refuses changes of what was registered (RULES.md P5, A3): registrations keep every
recorded value (only classification, assignment and publication may change), and annulments,
changes and daily registers are append-only."""

from django.db import migrations

from audit.dbguard import protect_operation


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]

    operations = [
        protect_operation("registry_registration"),
        protect_operation("registry_registrationannulment"),
        protect_operation("registry_registrationchange"),
        protect_operation("registry_dailyregister"),
    ]
