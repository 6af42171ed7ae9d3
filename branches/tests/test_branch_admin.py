"""Head office edits a Branch in its admin while the branch keeps pushing and pulling: a person's edit never writes
back the sync bookkeeping it read when the form was opened (docs/architecture.md)."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from branches.credentials import branch_register
from branches.models import Branch
from branches.tests.factories import Events, branch_client, push
from inventory.models import Unit
from inventory.tests.factories import product_make

pytestmark = [pytest.mark.mode("central"), pytest.mark.django_db]

BOOKKEEPING = ["ingest_mark", "feed_applied_cursor", "pending_reported", "high_water_seq", "max_seq_seen"]


@pytest.fixture
def admin_client(db):
    user = get_user_model().objects.create_superuser("root", "root@example.com", "secret-pass-1")
    client = Client()
    client.force_login(user)
    return client


def form_fields(html: str) -> dict[str, str]:
    """The editable inputs of a change form, as a browser would post them back."""
    fields = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html):
        if name != "csrfmiddlewaretoken":
            fields[name] = value
    return fields


def test_saving_a_branch_in_the_admin_keeps_what_ingest_and_pull_wrote_meanwhile(admin_client):
    product_make(sku="LAC-LECHE-1L", unit=Unit.UNIT)
    client, _ = branch_client("B001")
    stream = Events("B001")
    push(client, [stream.received(LAC_LECHE_1L="5")])
    Branch.objects.filter(pk="B001").update(feed_applied_cursor=3, pending_reported=7)
    opened = admin_client.get("/admin/branches/branch/B001/change/")
    assert opened.status_code == 200
    posted = form_fields(opened.content.decode())
    # While the manager reads the form: another push stores events, a pull reports the feed applied further.
    client.post(
        "/api/v1/sync/events",
        {"branch": "B001", "events": [stream.sale(LAC_LECHE_1L="1")]},
        format="json",
        HTTP_X_OUTBOX_PENDING="0",
    )
    Branch.objects.filter(pk="B001").update(feed_applied_cursor=9)
    before = Branch.objects.values(*BOOKKEEPING).get(pk="B001")

    saved = admin_client.post(
        "/admin/branches/branch/B001/change/", {**posted, "name": "Sucursal Centro", "_save": "Save"}
    )

    assert saved.status_code == 302, saved.content.decode()[:2000]
    after = Branch.objects.values("name", *BOOKKEEPING).get(pk="B001")
    assert after.pop("name") == "Sucursal Centro"
    assert after == before


def test_the_branch_admin_lets_a_person_edit_the_name_only(admin_client):
    branch_register(code="B001", name="Sucursal B001")

    opened = admin_client.get("/admin/branches/branch/B001/change/").content.decode()

    editable = {name for name in form_fields(opened) if not name.startswith("_")}
    assert editable == {"name"}


def test_rotating_a_credential_writes_only_the_credential():
    branch_register(code="B001", name="Sucursal B001")
    Branch.objects.filter(pk="B001").update(ingest_mark=4, feed_applied_cursor=12, pending_reported=3)

    with CaptureUpdates() as updates:
        branch_register(code="B001")

    assert updates.sql, "the credential was not written"
    for statement in updates.sql:
        for field in ("ingest_mark", "feed_applied_cursor", "pending_reported", "high_water_seq", "name"):
            assert f'"{field}"' not in statement, statement
    assert Branch.objects.values_list("ingest_mark", "feed_applied_cursor", "pending_reported").get(pk="B001") == (
        4,
        12,
        3,
    )


class CaptureUpdates:
    """The UPDATE statements run on the branches table while the block runs."""

    def __enter__(self):
        from django.db import connection

        self.sql: list[str] = []
        self._wrapper = connection.execute_wrapper(self._record)
        self._wrapper.__enter__()
        return self

    def _record(self, execute, sql, params, many, context):
        if sql.lstrip().upper().startswith("UPDATE") and "branches_branch" in sql:
            self.sql.append(sql)
        return execute(sql, params, many, context)

    def __exit__(self, *exc):
        self._wrapper.__exit__(*exc)


def test_the_branch_admin_never_shows_the_credential_hash(admin_client):
    _, credential = branch_register(code="B001", name="Sucursal B001")
    stored = Branch.objects.get(pk="B001").credential_hash

    pages = [
        admin_client.get("/admin/branches/branch/").content.decode(),
        admin_client.get("/admin/branches/branch/B001/change/").content.decode(),
    ]

    assert all(stored not in page and credential not in page for page in pages)
    assert "issued" in pages[1]
