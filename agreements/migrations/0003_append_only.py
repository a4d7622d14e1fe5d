from django.db import migrations

from audit.dbguard import protect_operation


class Migration(migrations.Migration):
    dependencies = [("agreements", "0002_role_groups"), ("audit", "0002_append_only_triggers")]

    operations = [
        protect_operation("agreements_agreementversion"),
        protect_operation("agreements_comment"),
    ]
