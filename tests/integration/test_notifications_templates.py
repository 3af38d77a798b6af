"""Every message the shipped processes send has its own Swedish and English text."""

from __future__ import annotations

import re

import pytest

from iphs_flow.notify.render import TEMPLATES, render
from tests.conftest import ROOT

NOTIFY = re.compile(r'<spiffworkflow:parameter id="template" type="str" value="\'([a-z_]+)\'"')
SHIPPED = sorted({name for path in (ROOT / "bpmn").glob("*.bpmn") for name in NOTIFY.findall(path.read_text())})
CONTEXT = {"recipient_name": "Lena Lind", "case_number": "IPHS 2026/0007", "case_title": "Tryggare skolvägar",
           "task_name": "Behovsprövning (G1)", "due": "2026-04-14 09:00", "link": "https://iphs.example.se/tasks/7",
           "holder": "Lena Lind", "decision_label": "Avslag", "end_date": "2026-09-30",
           "params": {"working_day": 5, "day": 7, "days": 30, "days_left": 7, "gate": "G1", "decision": "rejected",
                      "reason": "Utanför uppdraget", "resume_date": "2026-10-01", "end_date": "2026-09-30"}}


def test_the_shipped_processes_use_templates() -> None:
    assert {"receipt", "reminder", "escalation", "decision"} <= set(SHIPPED)


@pytest.mark.parametrize("language", ["sv", "en"])
@pytest.mark.parametrize("template", SHIPPED)
def test_each_shipped_template_has_a_text_in_both_languages(template: str, language: str) -> None:
    assert (TEMPLATES / language / f"{template}.txt").is_file()
    text = render(template, language, CONTEXT)
    assert text.subject and "IPHS 2026/0007" in text.subject
    assert "{{" not in text.body and "{%" not in text.body
    assert text.body.startswith("Hej Lena Lind!" if language == "sv" else "Hello Lena Lind,")


def test_an_unknown_template_falls_back_to_a_general_message() -> None:
    text = render("something_new", "en", CONTEXT)
    assert text.subject == "News about IPHS 2026/0007"
    assert render("../../etc/passwd", "sv", CONTEXT).subject == "Meddelande om IPHS 2026/0007"
