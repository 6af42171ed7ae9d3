import shutil

import pytest

from harness.chain import token_from
from harness.processes import Node, sqlite_copy


@pytest.fixture(scope="session")
def branch_template(tmp_path_factory):
    """A migrated branch B001 database with the demo catalog, its starting stock and a cashier, made once per
    session; each test gets its own copy."""
    node = Node(mode="branch", data_dir=tmp_path_factory.mktemp("branch-template"), env={"BRANCH_CODE": "B001"})
    node.manage("migrate", "--no-input", "-v", "0")
    node.manage("load_demo_catalog")
    token = token_from(node.manage("create_staff", "pos1", "--role", "cashier"))
    return node, token


@pytest.fixture
def branch_node(branch_template, tmp_path):
    template, token = branch_template
    node = Node(mode="branch", data_dir=tmp_path / "branch", env=dict(template.env))
    sqlite_copy(template.data_dir / "db.sqlite3", node.data_dir / "db.sqlite3")
    node.token = token
    yield node
    shutil.rmtree(node.data_dir / "broker", ignore_errors=True)
