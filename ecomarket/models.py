from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class StaffToken(models.Model):
    """A staff member's API token (POS devices, scripts). Only its SHA-256 is stored: the token is shown once,
    when it is issued (``manage.py create_staff``, or the user's admin page), so a copy of the database does not
    hand out working tokens. It stops working at ``expires_at`` when it has one (``STAFF_TOKEN_MAX_AGE_DAYS``)."""

    key_hash = models.CharField(max_length=64, primary_key=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="empty: until it is rotated or revoked")

    def __str__(self) -> str:
        return f"API token of {self.user}"


class Heartbeat(models.Model):
    """The last sign of life of a Celery worker or beat (one row each), read by ``/readyz`` and ``/metrics``. The
    worker writes it from a task beat schedules, so a fresh row proves the broker, beat and a worker all turn."""

    class Component(models.TextChoices):
        WORKER = "worker", _("Worker")
        BEAT = "beat", _("Beat")

    component = models.CharField(max_length=16, choices=Component.choices, primary_key=True)
    seen_at = models.DateTimeField()
    host = models.CharField(max_length=200, blank=True, help_text=_("hostname and pid of the process that wrote it"))

    def __str__(self) -> str:
        return f"{self.component} seen {self.seen_at:%Y-%m-%d %H:%M:%S}"


class CacheGeneration(models.Model):
    """The generation of rows a process keeps in memory (ecomarket/generations.py): SQLite triggers give it a new
    random value in the transaction of any write to those rows, and a process drops what it keeps when it differs."""

    name = models.CharField(max_length=32, primary_key=True)
    value = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.name} generation {self.value}"
