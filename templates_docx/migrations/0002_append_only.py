from django.db import migrations

from audit.dbguard import protect_operation


class Migration(migrations.Migration):
    dependencies = [("templates_docx", "0001_initial"), ("audit", "0002_append_only_triggers")]

    operations = [protect_operation("templates_docx_templateversion")]
