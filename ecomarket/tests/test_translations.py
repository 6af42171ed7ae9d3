"""The Spanish catalogue is complete and the compiled .mo in the repository says what the .po says (gettext is not
needed to run EcoMarket, so a stale .mo would silently show old or English text)."""

import gettext
import re

from django.conf import settings

CATALOGUE = settings.BASE_DIR / "locale" / "es" / "LC_MESSAGES"


def po_entries() -> dict[str, str]:
    text = (CATALOGUE / "django.po").read_text(encoding="utf-8")
    assert "#, fuzzy" not in text, "a fuzzy entry is not used by gettext: translate it and remove the flag"

    def joined(block: str) -> str:
        return "".join(re.findall(r'"(.*)"', block)).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")

    pairs = re.findall(r'\nmsgid ((?:"[^\n]*"\n)+)msgstr ((?:"[^\n]*"\n)+)', text)
    return {joined(msgid): joined(msgstr) for msgid, msgstr in pairs if joined(msgid)}


def test_every_message_has_a_spanish_translation():
    untranslated = [msgid for msgid, msgstr in po_entries().items() if not msgstr]

    assert untranslated == []


def test_compiled_catalogue_matches_the_po_file():
    with (CATALOGUE / "django.mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)

    stale = {msgid: msgstr for msgid, msgstr in po_entries().items() if catalogue.gettext(msgid) != msgstr}

    assert stale == {}, "run `make messages` to compile locale/es/LC_MESSAGES/django.mo"
