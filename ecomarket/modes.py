"""Deployment modes: one codebase, a branch store server or head office (docs/architecture.md).

The mode is read once from ``ECOMARKET_MODE`` when the settings load; any other value refuses to start. A service
that only makes sense in one mode is decorated with :func:`only`, which checks the mode at every call (the way
Sentry gates by silo mode), so a misrouted call fails loudly.
"""

import functools
from enum import StrEnum

from django.core.exceptions import ImproperlyConfigured


class Mode(StrEnum):
    BRANCH = "branch"
    CENTRAL = "central"


def mode_parse(value: str | None) -> Mode:
    """Turn the ``ECOMARKET_MODE`` value into a Mode, or refuse with a message an operator can act on."""
    try:
        return Mode((value or "").strip().lower())
    except ValueError:
        raise ImproperlyConfigured(
            f"ECOMARKET_MODE must be 'branch' or 'central', got {value!r}. "
            "Set it in the environment (see .env.example): a branch store server sells and keeps local stock; "
            "central is head office."
        ) from None


def current() -> Mode:
    """The mode this process runs in: ``settings.ECOMARKET_MODE``, read at each call rather than at import, so a
    test's ``override_settings`` is seen. :func:`require` and :func:`only` ask it; the rest of the code asks
    ``settings.IS_BRANCH`` / ``settings.IS_CENTRAL``, fixed when the settings load, where what is installed, routed
    and scheduled is decided."""
    from django.conf import settings

    return Mode(settings.ECOMARKET_MODE)


def require(mode: Mode) -> None:
    """Fail loudly when code meant for one mode runs in the other."""
    if current() != mode:
        raise RuntimeError(f"this code runs only in {mode} mode, not in {current()} mode")


def only(mode: Mode):
    """Decorator for a service that makes sense in one mode only: every call checks the mode first (Sentry's silo
    limits), so a branch function called at central, or the other way round, fails loudly instead of writing."""

    def decorate(function):
        @functools.wraps(function)
        def gated(*args, **kwargs):
            require(mode)
            return function(*args, **kwargs)

        return gated

    return decorate
