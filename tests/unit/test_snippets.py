"""Snippets mark exactly the words whose Swedish or English stem is searched for, however the stemmer bends them."""

from __future__ import annotations

import re

from iphs_flow.services.text_analysis import highlight, parse_query, stem_en, stem_sv

TEXT = ("Skollokalerna i Rinkeby räcker inte. He was tying ropes while the cries of happy children "
        "filled the schools; the dying plants were lying in parkens skugga och parkerna.")


def marked(snippet: str) -> list[str]:
    return [w.lower() for w in re.findall(r"<mark>(.*?)</mark>", snippet)]


def every_word_stemmed(body: str, query: str) -> list[str]:
    """The words a snippet must mark, by stemming every word of the text (no shortcut)."""
    wanted = parse_query(query)
    words = [w.lower() for w in re.findall(r"\w+", body)]
    return [w for w, sv, en in zip(words, stem_sv(words), stem_en(words), strict=True)
            if sv in wanted.sv or en in wanted.en]


def test_the_snippet_marks_words_whose_english_stem_changes_their_ending() -> None:
    snippet = highlight(TEXT, parse_query("tie cry happiness die lie"), window=60)
    assert marked(snippet) == ["tying", "cries", "happy", "dying", "lying"]


def test_the_snippet_marks_the_swedish_forms_of_a_word() -> None:
    assert marked(highlight(TEXT, parse_query("skollokal parken"), window=60)) == ["skollokalerna", "parkens",
                                                                                  "parkerna"]


def test_the_snippet_marks_what_stemming_every_word_would() -> None:
    words = re.findall(r"\w+", TEXT)
    for query in [*words, "school children", "ropes plant", "skolor lokaler", "räcka"]:
        assert marked(highlight(TEXT, parse_query(query), window=60)) == every_word_stemmed(TEXT, query), query
