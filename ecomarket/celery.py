"""The Celery app (cookiecutter-django's shape): configured from Django settings under the CELERY_ namespace."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ecomarket.settings")

app = Celery("ecomarket")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
