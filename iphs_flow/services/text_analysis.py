"""Words, stems and highlighted snippets: the language side of search, the same for both databases.

Swedish first, English second: every word is reduced with the Snowball stemmers of both
languages (PyStemmer, the C build of the Snowball algorithms that PostgreSQL's `swedish`
and `english` configurations also use), so "skollokal" meets "skollokalerna" and
"school" meets "schools". The SQLite back end indexes and queries these stems with FTS5;
PostgreSQL stems by itself and only the snippet markers come from here.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache

import Stemmer

WORD = re.compile(r"\w+", re.UNICODE)
# Private-use characters mark a highlighted word until the snippet is escaped for HTML; they
# are removed from indexed text so a case text can never forge a mark.
MARK_START, MARK_END = "\ue000", "\ue001"
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
MAX_QUERY_WORDS = 32

# Snowball's Swedish stop-word list (as in PostgreSQL's swedish.stop), and the commonest English words.
SWEDISH_STOP = frozenset({
    "och", "det", "att", "i", "en", "jag", "hon", "som", "han", "på", "den", "med", "var", "sig", "för", "så",
    "till", "är", "men", "ett", "om", "hade", "de", "av", "icke", "mig", "du", "henne", "då", "sin", "nu", "har",
    "inte", "hans", "honom", "skulle", "hennes", "där", "min", "man", "ej", "vid", "kunde", "något", "från", "ut",
    "när", "efter", "upp", "vi", "dem", "vara", "vad", "över", "än", "dig", "kan", "sina", "här", "ha", "mot",
    "alla", "under", "någon", "eller", "allt", "mycket", "sedan", "ju", "denna", "själv", "detta", "åt", "utan",
    "varit", "hur", "ingen", "mitt", "ni", "bli", "blev", "oss", "din", "dessa", "några", "deras", "blir", "mina",
    "samma", "vilken", "er", "sådan", "vår", "blivit", "dess", "inom", "mellan", "sådant", "varför", "varje",
    "vilka", "ditt", "vem", "vilket", "sitta", "sådana", "vart", "dina", "vars", "vårt", "våra", "ert", "era",
    "vilkas", "också", "mer", "få", "fler", "mest", "många", "ska", "bara", "även", "behöver", "behov", "finns",
    "idag", "dag", "olika", "göra", "gör", "kunna",
})
ENGLISH_STOP = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "has", "have", "he", "her", "his", "i",
    "in", "into", "is", "it", "its", "of", "on", "or", "our", "she", "so", "that", "the", "their", "them", "there",
    "these", "they", "this", "to", "was", "we", "were", "what", "when", "where", "which", "who", "will", "with",
    "you", "your", "not", "no", "can", "do",
})
STOP_WORDS = SWEDISH_STOP | ENGLISH_STOP


@lru_cache(maxsize=1)
def _stemmers() -> tuple[Stemmer.Stemmer, Stemmer.Stemmer]:
    return Stemmer.Stemmer("swedish"), Stemmer.Stemmer("english")


def clean(text: str) -> str:
    """Text as it is indexed: marker characters removed."""
    return _PRIVATE_USE.sub("", text)


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD.findall(text)]


def stem_sv(tokens: list[str]) -> list[str]:
    return _stemmers()[0].stemWords(tokens)


def stem_en(tokens: list[str]) -> list[str]:
    return _stemmers()[1].stemWords(tokens)


def analysed(text: str) -> tuple[str, str]:
    """(Swedish stems, English stems) of a text, space separated: what FTS5 indexes."""
    tokens = words(text)
    return " ".join(stem_sv(tokens)), " ".join(stem_en(tokens))


@dataclass(frozen=True)
class Query:
    """A search as typed, reduced to the words that count and their stems in both languages."""

    words: tuple[str, ...]
    sv: tuple[str, ...]
    en: tuple[str, ...]
    lexemes: bool = False  # `words` are PostgreSQL lexemes already (similar cases), not words as typed

    @property
    def empty(self) -> bool:
        return not self.words

    def fts5_all(self) -> str:
        """FTS5: every word must match, in its Swedish or its English form."""
        return " AND ".join(f'(sv:"{s}" OR en:"{e}")' for s, e in zip(self.sv, self.en, strict=True))

    def fts5_any(self) -> str:
        """FTS5: any of the words (similar cases rank by how many and how rare)."""
        terms = sorted({f'sv:"{s}"' for s in self.sv})
        return " OR ".join(terms)

    def pg_all(self) -> str:
        """to_tsquery text: every word (PostgreSQL stems it with its own configuration)."""
        return " & ".join(self.words)

    def pg_any(self) -> str:
        return " | ".join(sorted(set(self.words)))


def parse_query(text: str, *, drop_stop_words: bool = False, max_words: int = MAX_QUERY_WORDS) -> Query:
    """The words of `text` (letters and digits only, so nothing reaches a query language unquoted)."""
    tokens = []
    seen = set()
    for token in words(clean(text)):
        if drop_stop_words and (token in STOP_WORDS or len(token) < 2):
            continue
        if token in seen:
            continue
        seen.add(token)
        tokens.append(token)
        if len(tokens) >= max_words:
            break
    return Query(tuple(tokens), tuple(stem_sv(tokens)), tuple(stem_en(tokens)))


def marked_to_html(text: str) -> str:
    """Escape a snippet for HTML, then turn the private-use markers into <mark> elements."""
    escaped = html.escape(text, quote=True)
    return escaped.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>")


def highlight(body: str, query: Query, *, window: int = 30) -> str:
    """An HTML-safe snippet of `body` around the densest run of matching words, matches in <mark>.

    A word matches when its Swedish or English stem is one of the query's, the same rule
    the SQLite index matches by.
    """
    wanted_sv, wanted_en = set(query.sv), set(query.en)
    spans = [(m.start(), m.end(), m.group(0).lower()) for m in WORD.finditer(body)]
    if not spans:
        return ""
    # Only a word that begins like a wanted stem can have it, so just those words are stemmed, not
    # the whole text: Snowball's Swedish stemmer only strips endings; the English one may also
    # turn the last letter (a y into i) and makes "tie" of "tying", so its stems count less their
    # last letter, and a short one only by its first.
    prefixes = tuple(wanted_sv | {e[:-1] if len(e) > 3 else e[:1] for e in wanted_en if e})
    maybe = [i for i, span in enumerate(spans) if span[2].startswith(prefixes)]
    candidates = [spans[i][2] for i in maybe]
    hits = [False] * len(spans)
    for i, a, b in zip(maybe, stem_sv(candidates), stem_en(candidates), strict=True):
        hits[i] = a in wanted_sv or b in wanted_en
    first = 0
    if any(hits):
        best = -1
        for start in range(len(spans)):
            if not hits[start]:
                continue
            count = sum(hits[start:start + window])
            if count > best:
                best, first = count, max(0, start - 5)
    last = min(len(spans), first + window)
    begin, end = spans[first][0], spans[last - 1][1]
    parts = []
    cursor = begin
    for (s, e, _), hit in zip(spans[first:last], hits[first:last], strict=True):
        if hit:
            parts.append(html.escape(body[cursor:s]))
            parts.append("<mark>" + html.escape(body[s:e]) + "</mark>")
            cursor = e
    parts.append(html.escape(body[cursor:end]))
    prefix = "… " if first > 0 else ""
    suffix = " …" if last < len(spans) else ""
    return prefix + "".join(parts) + suffix
