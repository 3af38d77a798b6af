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


class Pseudonyms:
    """The people of one export, and their names scrubbed out of its free text."""

    def __init__(self, accounts: Iterable[tuple[str, str, str | None]] = ()) -> None:
        self._key = secrets.token_bytes(32)
        self._tokens: dict[str, str] = {}
        self._taken: dict[str, str] = {}
        names: dict[str, str] = {}  # lower-cased name, username or address -> username
        for username, display_name, email in accounts:
            for written in (username, display_name, email):
                if written and len(written.strip()) >= 2:
                    names.setdefault(written.strip().lower(), username)
        self._names = names
        self._pattern = None
        if names:
            alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
            # Whole words only, so the username "bo" is found in "bo skrev" but not in "boende".
            self._pattern = re.compile(rf"(?<![\w@.])(?:{alternatives})(?![\w@])", re.IGNORECASE)

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

    def scrub_names(self, text: str) -> str:
        """`text` with every known person's name, username and e-mail address replaced by their pseudonym."""
        if not text or self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.of(self._names[m.group(0).lower()]), text)
