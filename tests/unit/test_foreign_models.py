"""Timer values as Camunda Modeler writes them are read as the ISO 8601 text they are."""

from __future__ import annotations

import pytest

from iphs_flow.engine.foreign_models import is_iso_literal, timer_source
from iphs_flow.engine.model_checks import timer_problem


@pytest.mark.parametrize("value", ["PT1H", "P10D", "P1Y2M3DT4H5M6S", "PT0.5S", "R3/PT1H", "R/P1D",
                                   "R5/2026-12-01T09:00:00Z/PT30M", "2026-12-01", "2026-12-01T10:00:00+01:00",
                                   "2026-12-01T10:00:00Z", " PT15M "])
def test_an_iso_8601_value_is_text(value) -> None:
    assert is_iso_literal(value)
    assert timer_source(value) == f'"{value.strip()}"'


@pytest.mark.parametrize("value", ['"PT1H"', "add_days(now(), 3)", "deadline", "P", "PT", "PTH", "R3/",
                                   "0 0 9 * * ?", "${duration}", "P1H"])
def test_an_expression_stays_an_expression(value) -> None:
    assert not is_iso_literal(value)
    assert timer_source(value) == value


@pytest.mark.parametrize(("kind", "value"), [("timeDuration", "PT1H"), ("timeCycle", "R3/PT1H"),
                                             ("timeDate", "2026-12-01T10:00:00+01:00")])
def test_the_deploy_check_accepts_camundas_bare_timer_values(kind, value) -> None:
    assert timer_problem(kind, value) is None


def test_a_bare_value_of_the_wrong_kind_is_still_refused() -> None:
    assert "does not give a cycle" in timer_problem("timeCycle", "PT1H")
