"""Staff API tokens, stored hashed (see StaffToken)."""

import hashlib
import secrets

from django.db import transaction
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from ecomarket.models import StaffToken


def token_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def staff_token_issue(*, user) -> str:
    """Issue a new token for ``user``, replacing any older one, and return it: the only time it is visible."""
    key = secrets.token_hex(20)
    StaffToken.objects.filter(user=user).delete()
    StaffToken.objects.create(user=user, key_hash=token_hash(key))
    return key


class HashedTokenAuthentication(TokenAuthentication):
    """``Authorization: Token <key>``, looked up by the key's SHA-256."""

    def authenticate_credentials(self, key):
        token = StaffToken.objects.select_related("user").filter(key_hash=token_hash(key)).first()
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid token.")
        return token.user, token
