"""Web form values that are not numbers a form can store are refused at the field, and a
designer's pattern runs on RE2 (it returns at once, whatever it is)."""

from __future__ import annotations

from werkzeug.datastructures import MultiDict

from iphs_flow.services.form_patterns import FormValidator, pattern_problems
from iphs_flow.web.forms import FormSpec

SCHEMA = {"type": "object", "properties": {"budget": {"type": "number"}, "people": {"type": "integer"},
                                           "code": {"type": "string", "pattern": "^(a|aa)+$"}}}


def test_nan_infinity_and_huge_numbers_typed_into_a_form_are_field_errors_not_data() -> None:
    spec = FormSpec("f", {"schema": SCHEMA})
    for budget in ("NaN", "nan", "inf", "-Infinity", "1e999"):
        data, problems = spec.read(MultiDict({"budget": budget}))
        assert "budget" in problems and data["budget"] == budget, budget  # the text, shown again; never stored
    data, problems = spec.read(MultiDict({"people": "9" * 5000}))
    assert "people" in problems and isinstance(data["people"], str)
    data, problems = spec.read(MultiDict({"budget": "12 500,50", "people": "3"}))
    assert data == {"budget": 12500.5, "people": 3} and not problems


def test_a_backtracking_pattern_returns_and_says_the_answer_does_not_match() -> None:
    errors = list(FormValidator(SCHEMA).iter_errors({"code": "a" * 40 + "!"}))
    assert [e.validator for e in errors] == ["pattern"]
    assert list(FormValidator(SCHEMA).iter_errors({"code": "aaaa"})) == []


def test_patterns_re2_cannot_run_are_found_with_their_place_and_reason() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "(x)\\1"},
                                               "b": {"type": "array", "items": {"pattern": "(?=y)"}}},
              "patternProperties": {"^ok$": {}}}
    found = pattern_problems(schema)
    assert [(path, pattern) for path, pattern, _ in found] == [("properties/a/pattern", "(x)\\1"),
                                                               ("properties/b/items/pattern", "(?=y)")]
    assert all(reason for _, _, reason in found)


def test_a_form_with_a_pattern_re2_cannot_run_is_refused_at_deploy() -> None:
    import pytest

    from iphs_flow.services.errors import InvalidProcess
    from iphs_flow.services.processes import check_form

    with pytest.raises(InvalidProcess, match="linear time"):
        check_form("need", {"type": "object", "properties": {"k": {"type": "string", "pattern": "^(?!x)"}}}, {})
    assert check_form("need", SCHEMA, {})
