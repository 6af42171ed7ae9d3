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

    # A message with a context ("Change" as money given back) is another message than the same words without one:
    # it is keyed "context\x04msgid", as gettext keys it in the compiled catalogue.
    entries = re.findall(r'\n(?:msgctxt ((?:"[^\n]*"\n)+))?msgid ((?:"[^\n]*"\n)+)msgstr ((?:"[^\n]*"\n)+)', text)
    return {
        (f"{joined(context)}\x04" if context else "") + joined(msgid): joined(msgstr)
        for context, msgid, msgstr in entries
        if joined(msgid)
    }


def test_every_message_has_a_spanish_translation():
    untranslated = [msgid for msgid, msgstr in po_entries().items() if not msgstr]

    assert untranslated == []


def test_compiled_catalogue_matches_the_po_file():
    with (CATALOGUE / "django.mo").open("rb") as compiled:
        catalogue = gettext.GNUTranslations(compiled)

    stale = {msgid: msgstr for msgid, msgstr in po_entries().items() if catalogue.gettext(msgid) != msgstr}

    assert stale == {}, "run `make messages` to compile locale/es/LC_MESSAGES/django.mo"


def test_every_model_and_field_the_admin_shows_has_a_spanish_name():
    """The admin's column headers, filters and form labels come from the models: a field without a label in
    ecomarket/labels.py shows its English attribute name on a Spanish page."""
    from django.contrib import admin
    from django.utils import translation

    from ecomarket.labels import APPS

    def spanish_and_english(text) -> tuple[str, str]:
        with translation.override("es"):
            spanish = str(text)
        with translation.override("en"):
            return spanish, str(text)

    same_in_both = {"id", "seq", "SKU", "total", "GET data", "POST data", "HTTP Accept", "Worker", "Beat"}
    english = []
    for model in admin.site._registry:
        if model._meta.app_label not in APPS:
            continue
        names = [model._meta.verbose_name, model._meta.verbose_name_plural, model._meta.app_config.verbose_name]
        fields = [field for field in model._meta.get_fields() if getattr(field, "concrete", False)]
        names += [field.verbose_name for field in fields if hasattr(field, "verbose_name")]
        names += [label for field in fields for _, label in getattr(field, "flatchoices", None) or []]
        for name in names:
            spanish, in_english = spanish_and_english(name)
            if spanish == in_english and in_english not in same_in_both:
                english.append(f"{model._meta.label}: {in_english}")

    assert sorted(set(english)) == []
