"""Send mail with smtplib: one connection per batch, a Message-ID derived from the job key.

The Message-ID is the same on every attempt of the same job, so if a crash between
"the server accepted it" and "we recorded it as sent" makes us send it again, the
receiving side (and our tests) can recognise the duplicate.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.header import Header
from email.message import Message
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from types import TracebackType
from typing import Any

from iphs_flow.config import Settings
from iphs_flow.engine.clock import now

# What a broken SMTP server or network raises; anything else is a bug and propagates.
MAIL_ERRORS: tuple[type[BaseException], ...] = (smtplib.SMTPException, OSError)


def message_id(idempotency_key: str, mail_from: str) -> str:
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "iphs-flow.local"
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    return f"<{digest}@{domain}>"


def build_message(payload: dict[str, Any], mail_from: str) -> Message:
    """A plain-text UTF-8 mail.

    Built with the compat32 API on purpose: `EmailMessage` (policy.default) folds a long
    subject with å/ä/ö into encoded words and loses the space at the fold (CPython's
    header folder), so "…/0001 är försenad" arrived as "…/0001är försenad".
    """
    message = MIMEText(payload["body"], "plain", "utf-8")
    message["From"] = mail_from
    message["To"] = formataddr((str(Header(payload.get("name") or "", "utf-8")), payload["to"]))
    message["Subject"] = Header(payload["subject"], "utf-8")
    message["Message-ID"] = payload["message_id"]
    message["Date"] = format_datetime(now())
    message["Content-Language"] = payload.get("language", "sv")
    message["Auto-Submitted"] = "auto-generated"
    return message


class SmtpMailer:
    """An SMTP session configured from the settings (host, port, STARTTLS or SSL, login)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpMailer:
        s = self.settings
        if s.smtp_ssl:
            self._smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout,
                                          context=ssl.create_default_context())
        else:
            self._smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout)
            if s.smtp_starttls:
                self._smtp.starttls(context=ssl.create_default_context())
        if s.smtp_user:
            self._smtp.login(s.smtp_user, s.smtp_password)
        return self

    def send(self, payload: dict[str, Any]) -> None:
        if self._smtp is None:
            raise smtplib.SMTPServerDisconnected("not connected")
        self._smtp.send_message(build_message(payload, self.settings.mail_from))

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except MAIL_ERRORS:
                self._smtp.close()
            self._smtp = None
