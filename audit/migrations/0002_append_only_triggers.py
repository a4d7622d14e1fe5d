from django.db import migrations

from audit.dbguard import protect_operation


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [protect_operation("audit_auditevent")]
