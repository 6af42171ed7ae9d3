"""Errors reach someone: with ``SENTRY_DSN`` set, every process (gunicorn, Celery worker and beat, a ``manage.py``
command) sends its unhandled errors, failed tasks and ERROR log lines to Sentry (or anything that speaks its
protocol), with the release, the mode and the branch. Without it nothing is sent and nothing is imported.

What leaves the box is scrubbed first (:func:`event_scrub`, Sentry's ``before_send``): no request bodies (a sale's
customer contact travels in one), no cookies or authorization headers, no local variables of the frames, and in
whatever text is left (an exception's message, a log line, a task's arguments) credentials, tokens, e-mail
addresses and international phone numbers are replaced. A customer's contact and a credential never reach it.

https://docs.sentry.io/platforms/python/integrations/django/ and .../celery/
"""

import re

FILTERED = "[Filtered]"
# Keys whose value is dropped whole, wherever they appear in the event (headers, task kwargs, extra data).
SECRET_KEYS = re.compile(
    r"authorization|cookie|csrf|password|passwd|secret|token|credential|api[_-]?key|dsn|customer|phone|e-?mail",
    re.IGNORECASE,
)
SECRET_TEXT = [
    re.compile(r"\b(Branch|Token|Bearer|Basic)\s+[^\s'\",]+", re.IGNORECASE),  # an Authorization header's value
    re.compile(r"\becb_[A-Za-z0-9_-]+"),  # a branch credential (branches/credentials.py PREFIX)
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),  # an e-mail address
    re.compile(r"\+\d[\d ()-]{6,}\d"),  # a phone number in international form
]


def text_scrub(text: str, secrets: tuple[str, ...] = ()) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, FILTERED)
    for pattern in SECRET_TEXT:
        text = pattern.sub(FILTERED, text)
    return text


def _scrub(value, secrets: tuple[str, ...]):
    if isinstance(value, dict):
        return {
            key: FILTERED if isinstance(key, str) and SECRET_KEYS.search(key) else _scrub(item, secrets)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(item, secrets) for item in value]
    if isinstance(value, str):
        return text_scrub(value, secrets)
    return value


def event_scrub(event: dict, secrets: tuple[str, ...] = ()) -> dict:
    """The event without request bodies, cookies, headers that authenticate, frames' local variables, and with
    every credential (``secrets``: this server's own, e.g. BRANCH_CREDENTIAL) and contact in its text replaced."""
    request = event.get("request")
    if isinstance(request, dict):
        for part in ("data", "cookies", "env"):
            request.pop(part, None)
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            frame.pop("vars", None)
    return _scrub(event, secrets)


def sentry_init(*, dsn: str, environment: str, release: str, mode: str, branch: str, secrets: tuple[str, ...]):
    """Start sending errors to ``dsn``. Called once per process from settings, before Django and Celery start."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,  # no user e-mail or address, no cookies
        max_request_body_size="never",
        include_local_variables=False,
        traces_sample_rate=0.0,  # errors only; timings are /metrics' job
        before_send=lambda event, hint: event_scrub(event, secrets),
    )
    scope = sentry_sdk.get_global_scope()  # every thread's and request's events, not this one's alone
    scope.set_tag("mode", mode)
    if branch:
        scope.set_tag("branch", branch)
