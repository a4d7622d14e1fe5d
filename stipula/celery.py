"""The Celery application: e-mail delivery and the periodic deadline job (workflow/tasks.py).

    .venv/bin/celery -A stipula worker --beat --loglevel=info

Settings prefixed CELERY_ in stipula/settings.py configure it (broker: Redis).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stipula.settings")

app = Celery("stipula")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
