"""Free text leaves in research exports only without e-mail addresses, phone numbers and personnummer."""

import pytest

from iphs_flow.services.text_scrub import EMAIL_MARK, PHONE_MARK, PNR_MARK, is_personnummer, scrub


def luhn_digit(nine: str) -> str:
    """The check digit that makes YYMMDDNNN a valid personnummer."""
    total = 0
    for index, char in enumerate(nine):
        value = int(char) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def pnr(yymmdd: str, nnn: str) -> str:
    return yymmdd + nnn + luhn_digit(yymmdd + nnn)


VALID = pnr("811218", "987")  # 8112189876
COORDINATION = pnr("701278", "123")  # samordningsnummer: day 18 + 60


@pytest.mark.parametrize("text, expected", [
    ("Skriv till anna.berg@stockholm.se.", f"Skriv till {EMAIL_MARK}."),
    ("<Lena.Ek+pilot@edu.stockholm.se>", f"<{EMAIL_MARK}>"),
    ("mejl:bo_nilsson@example.com,tack", f"mejl:{EMAIL_MARK},tack"),
    ("åsa.öberg@förvaltning.se", EMAIL_MARK),
    ("a@stad.se/b.c@firma.example.com", f"{EMAIL_MARK}/{EMAIL_MARK}"),
    ("(anna@stad.se;bo@stad.se)", f"({EMAIL_MARK};{EMAIL_MARK})"),
    ("anna(at)stad.se", EMAIL_MARK),
    ("anna [at] stad [dot] se", EMAIL_MARK),
    ("Kontakt: A.B@Sub.Domain.ORG!", f"Kontakt: {EMAIL_MARK}!"),
])
def test_e_mail_addresses_are_replaced_wherever_they_stand(text, expected):
    assert scrub(text) == expected


@pytest.mark.parametrize("text", [
    "070-123 45 67", "070-1234567", "0701234567", "070 123 45 67", "+46 70 123 45 67",
    "+46701234567", "+46 (0)70 123 45 67", "0046 70 123 45 67", "08-123 456 78", "08-12 34 56",
    "(08) 123 456 78", "031-12 34 56", "0771-123 456", "+44 20 7946 0958", "+1 (555) 123-4567",
    "+46\u00a070\u00a0123\u00a045\u00a067",
])
def test_phone_numbers_in_swedish_and_international_forms_are_replaced(text):
    assert scrub(text) == PHONE_MARK
    assert scrub(f"Ring mig på {text}.") == f"Ring mig på {PHONE_MARK}."
    assert scrub(f"tel:{text};") == f"tel:{PHONE_MARK};"
    assert scrub(f"[{text}]") == f"[{PHONE_MARK}]"


def test_a_phone_number_glued_to_words_is_replaced():
    assert scrub("ring070-123 45 67eller mejla") == f"ring{PHONE_MARK}eller mejla"
    assert scrub("Tel.nr:08-123 456 78/växel") == f"Tel.nr:{PHONE_MARK}/växel"


@pytest.mark.parametrize("form", [
    VALID[:6] + "-" + VALID[6:],           # YYMMDD-XXXX
    VALID,                                   # YYMMDDXXXX
    "19" + VALID,                            # YYYYMMDDXXXX
    "19" + VALID[:6] + "-" + VALID[6:],    # YYYYMMDD-XXXX
    VALID[:6] + "+" + VALID[6:],           # over a hundred years old
    "19" + VALID[:6] + "+" + VALID[6:],
    COORDINATION[:6] + "-" + COORDINATION[6:],  # samordningsnummer
    "19" + COORDINATION,
])
def test_personnummer_and_samordningsnummer_in_every_form_are_replaced(form):
    assert scrub(form) == PNR_MARK
    assert scrub(f"Personnr:{form}, född i Solna") == f"Personnr:{PNR_MARK}, född i Solna"
    assert scrub(f"({form})") == f"({PNR_MARK})"
    assert scrub(f"pnr{form}x") == f"pnr{PNR_MARK}x"


@pytest.mark.parametrize("text", [
    "Budgeten är 250 000 kr", "12 345 678 kronor", "beslut 2026-12-01", "IPHS 2026/0001",
    "0,5 procent", "åren 2026 och 2027", "mätvärde 1234567", "kl. 08.30–16.00", "x@y",
    "ärende 20261201-0001", "konto 123456-7890", "version 3.2.0", "e-post saknas",
    "indikator 1: 45 %", "datum 20260101",
])
def test_ordinary_numbers_dates_and_amounts_are_kept(text):
    assert scrub(text) == text


def test_a_number_that_looks_like_a_personnummer_but_fails_the_check_digit_is_kept():
    wrong = VALID[:9] + str((int(VALID[9]) + 1) % 10)
    assert scrub(wrong[:6] + "-" + wrong[6:]) == wrong[:6] + "-" + wrong[6:]
    assert not is_personnummer(None, "81", "13", "18", "9876")  # no month 13
    assert is_personnummer(None, VALID[:2], VALID[2:4], VALID[4:6], VALID[6:])


def test_several_kinds_in_one_text_are_all_replaced():
    text = f"Anna (anna@stad.se, 070-123 45 67, {VALID[:6]}-{VALID[6:]}) budget 40 000 kr."
    assert scrub(text) == f"Anna ({EMAIL_MARK}, {PHONE_MARK}, {PNR_MARK}) budget 40 000 kr."


def test_working_days_in_exports_count_as_the_calendar_does():
    from datetime import date, timedelta

    from iphs_flow.engine.calendar import working_days_between
    from iphs_flow.services.research_export import WorkingDays

    days = WorkingDays()
    start = date(2025, 12, 15)
    for span in (0, 1, 3, 10, 17, 40, 400, 800):
        end = start + timedelta(days=span)
        assert days.count(start, end) == working_days_between(start, end), span
        assert days.count(end, start) == working_days_between(end, start), span
