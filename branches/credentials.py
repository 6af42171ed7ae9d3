"""Central side: branch credentials. A credential is a random secret shown once; only its SHA-256 is stored (the
secret has 256 bits of entropy, so a slow password hash would only slow ingestion, not an attacker)."""

import hashlib
import secrets

from django.db import transaction
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission

from branches.models import Branch
from ecomarket.modes import Mode, only

PREFIX = "ecb_"


def credential_hash(credential: str) -> str:
    return hashlib.sha256(credential.encode()).hexdigest()


@only(Mode.CENTRAL)
@transaction.atomic
def branch_register(*, code: str, name: str = "") -> tuple[Branch, str]:
    """Create a branch (or update its name) and issue a new credential, returned once; any older one stops
    working. Returns ``(branch, credential)``."""
    Branch.objects.get_or_create(code=code, defaults={"name": name or code})
    # Under the row's lock and by named fields: ingestion and pulls write the branch's bookkeeping meanwhile.
    branch = Branch.objects.select_for_update().get(code=code)
    fields = ["credential_hash", "credential_issued_at", "revoked_at"]
    if name:
        branch.name = name
        fields.append("name")
    credential = f"{PREFIX}{secrets.token_urlsafe(32)}"
    branch.credential_hash = credential_hash(credential)
    branch.credential_issued_at = timezone.now()
    branch.revoked_at = None
    branch.save(update_fields=fields)
    return branch, credential


@only(Mode.CENTRAL)
@transaction.atomic
def branch_credential_revoke(*, code: str) -> Branch:
    branch = Branch.objects.select_for_update().get(code=code)
    branch.credential_hash = ""
    branch.revoked_at = timezone.now()
    branch.save(update_fields=["credential_hash", "revoked_at"])
    return branch


@only(Mode.CENTRAL)
def branch_version_record(*, branch: Branch, version: str) -> bool:
    """Keep the release ``branch`` named on a request (``''``: none) if it is not the one kept; whether it wrote.
    Idempotent. Only when it changed, so a store's pulls do not queue for the row lock its pushes take, and by
    that one column: ingestion writes the branch's bookkeeping meanwhile, and an instance read at authentication
    must not put older values back."""
    if branch.software_version == version:
        return False
    branch.software_version = version
    branch.save(update_fields=["software_version"])
    return True


class BranchPrincipal:
    """``request.user`` for a request made with a branch credential."""

    is_authenticated = True
    is_anonymous = False
    is_superuser = False
    is_staff = False

    def __init__(self, branch: Branch) -> None:
        self.branch = branch
        self.username = f"branch:{branch.code}"
        self.pk = None
        self.groups = _NoGroups()

    def get_username(self) -> str:
        return self.username

    def __str__(self) -> str:
        return self.username


class _NoGroups:
    def all(self):
        return []


class BranchCredentialAuthentication(authentication.BaseAuthentication):
    """``Authorization: Branch <credential>``. A revoked or unknown credential is 401.

    Central's admission (branches/admission.py) authenticates a sync request before it takes a slot; the identity
    is kept on the request, so the view does not look the credential up a second time."""

    keyword = "Branch"

    def authenticate(self, request):
        underlying = getattr(request, "_request", request)  # DRF's Request wraps Django's
        identity = getattr(underlying, "branch_identity", None)
        if identity is None:
            identity = underlying.branch_identity = self._identity(request)
        return identity

    def _identity(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Branch credential header must be 'Branch <credential>'.")
        credential = header[1].decode(errors="replace")
        branch = Branch.objects.filter(credential_hash=credential_hash(credential), revoked_at__isnull=True).first()
        if branch is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked branch credential.")
        return BranchPrincipal(branch), branch

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsBranch(BasePermission):
    message = "This needs a branch credential."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, Branch)


class BranchCredentialScheme(OpenApiAuthenticationExtension):
    target_class = BranchCredentialAuthentication
    name = "branchCredential"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Branch <credential>`, printed once by `manage.py register_branch`.",
        }
