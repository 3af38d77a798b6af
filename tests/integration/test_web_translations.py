"""Every UI text has an English translation (Swedish msgids; English in messages.po)."""

from __future__ import annotations

import subprocess
import sys

from babel.messages.pofile import read_po

from tests.conftest import ROOT

PO = ROOT / "iphs_flow" / "web" / "translations" / "en" / "LC_MESSAGES" / "messages.po"


def test_every_text_in_the_web_pages_is_translated_to_english(tmp_path) -> None:
    pot = tmp_path / "messages.pot"
    subprocess.run([sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "iphs_flow/web/babel.cfg",
                    "-k", "_", "-k", "gettext", "-o", str(pot), "."], cwd=ROOT, check=True, capture_output=True)
    with pot.open("rb") as f:
        wanted = {m.id for m in read_po(f) if m.id}
    with PO.open("rb") as f:
        translated = {m.id for m in read_po(f) if m.id and m.string}
    assert len(wanted) > 100  # the extraction found the pages' texts
    assert wanted - translated == set()
