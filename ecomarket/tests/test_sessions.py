"""Staff sessions end after SESSION_IDLE_TIMEOUT_S unused and SESSION_MAX_AGE_S after the login (ASVS 3.3.2); a till
in use keeps its session, and the sync badge the pages poll by themselves does not count as use. The clocks live in
the session (epoch seconds), so the tests move them back instead of waiting."""

import pytest
from django.test import Client

from ecomarket.middleware import SESSION_BEGAN, SESSION_SEEN

pytestmark = [pytest.mark.mode("branch"), pytest.mark.django_db]


@pytest.fixture
def till(cashier, shelf, settings) -> Client:
    settings.SESSION_IDLE_TIMEOUT_S, settings.SESSION_MAX_AGE_S = 1800, 12 * 3600
    client = Client()
    client.force_login(cashier)
    return client


def _clocks_back(client: Client, *, began_s: int = 0, seen_s: int = 0) -> None:
    session = client.session
    session[SESSION_BEGAN] -= began_s
    session[SESSION_SEEN] -= seen_s
    session.save()


def test_a_login_starts_both_clocks(till):
    assert till.session[SESSION_BEGAN] == till.session[SESSION_SEEN] > 0


def test_a_session_unused_for_the_idle_timeout_is_logged_out(till):
    _clocks_back(till, began_s=1801, seen_s=1801)

    page = till.get("/pos/")
    api = till.get("/api/v1/stock")

    assert page.status_code == 302 and page["Location"].startswith("/login/")
    assert api.status_code in (401, 403)


def test_a_till_in_use_keeps_its_session(till):
    _clocks_back(till, began_s=1700, seen_s=1700)
    assert till.get("/api/v1/stock").status_code == 200  # a use, 28 minutes after the last one

    _clocks_back(till, began_s=1000, seen_s=1000)  # another 17 minutes: 45 after the login, 17 after that use

    assert till.get("/pos/").status_code == 200


def test_the_sync_badge_polling_by_itself_does_not_keep_a_session_alive(till):
    _clocks_back(till, began_s=1700, seen_s=1700)
    assert till.get("/api/v1/sync/status").status_code == 200  # answered, but not a use

    _clocks_back(till, seen_s=101)

    assert till.get("/pos/").status_code == 302


def test_a_session_ends_at_its_absolute_lifetime_however_busy(till):
    _clocks_back(till, began_s=12 * 3600)

    assert till.get("/pos/").status_code == 302


def test_a_session_from_before_the_limits_counts_from_now(till):
    session = till.session
    del session[SESSION_BEGAN], session[SESSION_SEEN]
    session.save()

    assert till.get("/pos/").status_code == 200
    assert till.session[SESSION_BEGAN] > 0
