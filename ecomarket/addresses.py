"""Who is calling: the one rule for a request's client address, for the throttles, axes, the access log and the
metrics allow-list. Depends on settings only, so every module may import it."""

from django.conf import settings


def client_address(request) -> str:
    """The caller's address. Behind ``TRUSTED_PROXY_COUNT`` proxies (a load balancer, a TLS terminator) every
    request comes from the nearest proxy's address, so the caller is the entry of ``X-Forwarded-For`` that the
    outermost trusted proxy appended: the Nth from the right. Entries further left were written by the client and
    can say anything; with fewer entries than trusted proxies, the header did not come through them all and only
    ``REMOTE_ADDR`` is known."""
    remote = request.META.get("REMOTE_ADDR", "")
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote
    forwarded = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    return forwarded[-hops] if len(forwarded) >= hops else remote
