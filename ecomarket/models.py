from django.conf import settings
from django.db import models


class StaffToken(models.Model):
    """A staff member's API token (POS devices, scripts). Only its SHA-256 is stored: the token is shown once,
    when it is issued (``manage.py create_staff``), so a copy of the database does not hand out working tokens."""

    key_hash = models.CharField(max_length=64, primary_key=True)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"API token of {self.user}"
