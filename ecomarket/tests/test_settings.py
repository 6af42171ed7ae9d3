"""Configuration is only environment variables, and `.env.example` lists every one settings.py reads
(docs/architecture.md): an operator finds each one there, with what it does."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_env_example_lists_every_variable_the_settings_read():
    source = (ROOT / "ecomarket" / "settings.py").read_text()
    read = set(re.findall(r'\benv(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]*)"', source))
    read |= set(re.findall(r'os\.environ\.get\(\s*"([A-Z][A-Z0-9_]*)"', source))
    example = (ROOT / ".env.example").read_text()

    assert len(read) > 50  # the patterns still find what settings.py reads
    assert sorted(name for name in read if not re.search(rf"\b{name}\b", example)) == []
