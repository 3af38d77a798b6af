"""Pseudonyms for people in a research export: stable within one export, unlinkable across exports.

Each export draws a fresh random key and names a person by an HMAC-SHA256 of their
username under it ("P-3f9a1c2b"). The key lives only in this object and is never
stored, so the same person gets the same pseudonym in every file of one export and a
different, unrelated one in the next. Names, usernames and e-mail addresses written in
free text are replaced by the same pseudonyms, so no one can be found by name either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable

SYSTEM_NAME = "system"  # the engine, the scheduler and the console are no people
_SYSTEM_PREFIXES = ("system", "engine", "cli:")
TOKEN_HEX = 8
# A word of a name, username or address: letters and digits, and the dots, dashes, @ and
# underscores inside them ("anna.berg", "Garbo-Svensson", "anna@stad.se").
_WORD = re.compile(r"\w+(?:[.@'+-]\w+)*")
_JOINERS = re.compile(r"[\s,]{1,3}")  # what stands between the words of one name


class Pseudonyms:
    """The people of one export, and their names scrubbed out of its free text."""

    def __init__(self, accounts: Iterable[tuple[str, str, str | None]] = ()) -> None:
        self._key = secrets.token_bytes(32)
        self._tokens: dict[str, str] = {}
        self._taken: dict[str, str] = {}
        # Names by their first word (lower case): (the whole name's words, username), longest first.
        # Looking names up word by word keeps scrubbing linear in the text, however many people.
        self._names: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for username, display_name, email in accounts:
            for written in (username, display_name, email):
                words = tuple(_WORD.findall((written or "").lower()))
                if words and len(" ".join(words)) >= 2:
                    self._names.setdefault(words[0], []).append((words, username))
        for candidates in self._names.values():
            candidates.sort(key=lambda c: len(c[0]), reverse=True)

    def of(self, username: str | None) -> str:
        """The pseudonym of `username` in this export ("" for nobody)."""
        if not username:
            return ""
        if username.startswith(_SYSTEM_PREFIXES):
            return SYSTEM_NAME
        token = self._tokens.get(username)
        if token is None:
            digest = hmac.new(self._key, username.encode("utf-8"), hashlib.sha256).hexdigest()
            length = TOKEN_HEX
            token = f"P-{digest[:length]}"
            while self._taken.get(token, username) != username:  # two people must never share one
                length += 2
                token = f"P-{digest[:length]}"
            self._tokens[username] = token
            self._taken[token] = username
        return token

    def _name_at(self, text: str, words: list[re.Match[str]], index: int) -> tuple[int, str] | None:
        """(how many words, whose) for the longest known name that starts at word `index`."""
        for name, username in self._names.get(words[index].group(0).lower(), ()):
            following = words[index:index + len(name)]
            if len(following) != len(name):
                continue
            if any(w.group(0).lower() != n for w, n in zip(following, name, strict=True)):
                continue
            if all(_JOINERS.fullmatch(text[a.end():b.start()]) for a, b in zip(following, following[1:], strict=False)):
                return len(name), username
        return None

    def scrub_names(self, text: str) -> str:
        """`text` with every known person's name, username and e-mail address replaced by their pseudonym.

        Whole words only, so the username "bo" is found in "bo skrev" but not in "boende".
        """
        if not text or not self._names:
            return text
        words = list(_WORD.finditer(text))
        out: list[str] = []
        done = 0  # text before this index is written
        index = 0
        names = self._names
        while index < len(words):
            match = words[index]
            found = self._name_at(text, words, index) if match.group(0).lower() in names else None
            if found is None:
                index += 1
                continue
            length, username = found
            out.append(text[done:match.start()])
            out.append(self.of(username))
            done = words[index + length - 1].end()
            index += length
        out.append(text[done:])
        return "".join(out)
