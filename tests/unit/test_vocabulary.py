"""The casework's words live in one domain module and every one of them has an English translation."""

from __future__ import annotations

from babel.messages.pofile import read_po

from iphs_flow.engine import vocabulary as v
from tests.conftest import ROOT

PO = ROOT / "iphs_flow" / "web" / "translations" / "en" / "LC_MESSAGES" / "messages.po"


def test_every_word_of_the_vocabulary_has_an_english_translation() -> None:
    with PO.open("rb") as f:
        translated = {m.id for m in read_po(f) if m.id and m.string}
    words = set()
    for table in (v.STAGES, v.STATUSES, v.OUTCOMES, v.EVENTS, v.ELEMENT_KINDS, v.CLOSING_WORDS, v.NOTICES):
        words |= set(table.values())
    for status in ("running", "completed"):
        for outcome in (None, "rejected", "referred", "on_hold", "realised", "more_info"):
            for forms in ((), ("supplement",), ("condition",)):
                words.add(v.plain_status(status, outcome, "2027-02-15", forms).text)
    assert words - translated == set()


def test_status_words_follow_the_last_outcome_and_what_the_case_waits_for() -> None:
    assert v.plain_status("completed", "rejected").text == "Avslag"
    assert v.plain_status("completed", "referred").text == "Hänvisad"
    assert v.plain_status("completed", "realised").text == "Genomförd"
    assert v.plain_status("completed", None).text == "Avslutat"
    held = v.plain_status("running", "on_hold", "2027-02-15", [])
    assert (held.text, held.date) == ("Vilande till %(date)s", "2027-02-15")
    assert v.plain_status("running", "on_hold", "2027-02-15", ["gate_g1"]).text == "Pågår"  # woke up
    assert v.plain_status("running", "more_info", None, ["supplement"]).text == "Väntar på komplettering"
    assert v.plain_status("suspended", "approved", None, ["pilot"]).text == "Pausat"
