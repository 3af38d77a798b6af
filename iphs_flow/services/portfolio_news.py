"""The monthly "Nytt i portföljen" digest: what happened in the portfolio last month, for those who asked.

Off by default; a person turns it on in their settings (services/following.py:set_settings).
On the first working day of a month (engine/calendar.py), from 07:00 Stockholm time, the
scheduler queues one "monthly_digest" job per subscriber keyed by person and month, so
any number of schedulers, ticks and restarts queue it once; a scheduler that was down that
morning catches up later in the month. The job builds the mail when it runs, from the
cases the reader may see then, in their language. A month with nothing to tell sends no
mail. Who subscribed after the digest went out gets the next month's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select

from iphs_flow.bootstrap import AppContext
from iphs_flow.config import Settings
from iphs_flow.engine.calendar import STOCKHOLM, format_swedish, is_working_day
from iphs_flow.engine.clock import now
from iphs_flow.notify.follow_words import outcome_label, stage_label
from iphs_flow.notify.render import Rendered, language_of, render
from iphs_flow.store.tables import FollowPreference, Outbox, UserAccount
from iphs_flow.store.unit_of_work import Transaction

from .errors import InvalidInput, NotFound
from .following import SECRET_TITLE
from .notifications import Recipient, base_url, bounded_key, queue_mail
from .permissions import ADMINISTRATOR, Actor, require_role
from .queries.portfolio_news import NewsItem, PortfolioMonth, portfolio_month

JOB = "monthly_digest"
SEND_HOUR = time(7, 0)
MONTHS = {
    "sv": ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti", "september", "oktober",
           "november", "december"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"),
}


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: Any) -> Month:
        """"2026-11" (the month of the digest); anything else is InvalidInput on `month`."""
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip()) if isinstance(text, str) else None
        if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
            raise InvalidInput("give the month as YYYY-MM", {"month": ["a month like 2026-11"]})
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    def previous(self) -> Month:
        return Month(self.year - 1, 12) if self.month == 1 else Month(self.year, self.month - 1)

    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    def bounds(self) -> tuple[datetime, datetime]:
        """The month as [start, end) instants: Stockholm midnights."""
        return (datetime.combine(self.first_day(), time(0), STOCKHOLM),
                datetime.combine(self.next().first_day(), time(0), STOCKHOLM))

    def name(self, language: str) -> str:
        return f"{MONTHS[language_of(language)][self.month - 1]} {self.year}"


def send_moment(month: Month) -> datetime:
    """When the digest of the month before `month` goes out: its first working day, 07:00 in Stockholm."""
    day = month.first_day()
    while not is_working_day(day):
        day += timedelta(days=1)
    return datetime.combine(day, SEND_HOUR, STOCKHOLM)


# ---------------------------------------------------------------- the scheduler queues, the job builds


def queue_due(ctx: AppContext, at: datetime | None = None) -> int:
    """Queue last month's digest for every subscriber once its moment has come; returns how many are new."""
    at = at or now()
    current = Month.of(at.astimezone(STOCKHOLM).date())
    moment = send_moment(current)
    if at < moment:
        return 0
    period = current.previous()
    subscribers = (select(FollowPreference.username)
                   .join(UserAccount, UserAccount.username == FollowPreference.username)
                   .where(FollowPreference.monthly_digest.is_(True), FollowPreference.subscribed_at <= moment,
                          UserAccount.is_active.is_(True), UserAccount.email.is_not(None)))
    with ctx.uow.read() as tx:  # look before taking a write lock: most minutes of a month have nothing to add
        keys = {bounded_key(JOB, username, period): username for username in tx.session.scalars(subscribers)}
        queued = set(tx.session.scalars(select(Outbox.idempotency_key).where(Outbox.idempotency_key.in_(keys))))
    missing = {key: name for key, name in keys.items() if key not in queued}
    if not missing:
        return 0
    with ctx.uow.write() as tx:
        added = sum(tx.outbox.add_for(key, JOB, {"username": username, "month": str(period)},
                                      recipient=username, status="pending", due_at=at)
                    for key, username in missing.items())
        tx.commit()
        return added


def _reader(tx: Transaction, user: UserAccount) -> Actor:
    return Actor(user.username, frozenset(tx.users.roles(user.id)), frozenset(tx.users.groups(user.id)))


def _entries(items: tuple[NewsItem, ...], language: str, root: str) -> list[dict[str, str]]:
    return [{"number": i.number, "title": SECRET_TITLE[language] if i.title_secret else i.title,
             "link": f"{root}/cases/{i.case_id}", "when": format_swedish(i.at, with_time=False),
             "stage_from": stage_label(i.stage_from, language), "stage_to": stage_label(i.stage_to, language),
             "gate_name": i.gate_name or "", "outcome": outcome_label(i.outcome, language)} for i in items]


def render_digest(news: PortfolioMonth, month: Month, user: UserAccount, settings: Settings) -> Rendered:
    language = language_of(user.language)
    root = base_url(settings)
    return render(JOB, language, {
        "recipient_name": user.display_name or user.username, "month_name": month.name(language),
        "new_cases": _entries(news.new_cases, language, root),
        "stage_changes": _entries(news.stage_changes, language, root),
        "decisions": _entries(news.decisions, language, root),
        "implemented": _entries(news.implemented, language, root),
        "settings_link": f"{root}/notifications"})


def build_monthly_digest(tx: Transaction, job: Outbox, settings: Settings, at: datetime) -> int:
    """The digest job: one mail with the month's news the subscriber may see; 0 when there is none
    (or they unsubscribed, left, or have no address since)."""
    username = job.recipient or job.payload.get("username", "")
    user = tx.users.by_username(username)
    pref = tx.session.get(FollowPreference, username)
    if user is None or not user.is_active or not user.email or pref is None or not pref.monthly_digest:
        return 0
    month = Month.parse(job.payload.get("month"))
    news = portfolio_month(tx.session, _reader(tx, user), *month.bounds())
    if news.empty:
        return 0
    text = render_digest(news, month, user, settings)
    person = Recipient(user.username, user.display_name or user.username, user.email,
                       language_of(user.language), "immediate")
    queue_mail(tx, settings, person, job.idempotency_key, text.subject, text.body,
               f"{base_url(settings)}/notifications", None, at)
    return len(news.case_ids)


# ---------------------------------------------------------------- the preview


@dataclass(frozen=True)
class DigestPreview:
    username: str
    month: str
    month_name: str
    subscribed: bool
    empty: bool
    subject: str
    body: str
    news: PortfolioMonth


def preview(ctx: AppContext, username: str, month: Any, actor: Actor) -> DigestPreview:
    """What `username` would get for `month` (as they may see the cases now): one's own, or anyone's
    for an administrator."""
    if actor.username != username:
        require_role(actor, ADMINISTRATOR, "preview someone else's digest")
    period = Month.parse(month)
    with ctx.uow.read() as tx:
        user = tx.users.by_username(username)
        if user is None:
            raise NotFound(f"there is no user {username}")
        pref = tx.session.get(FollowPreference, username)
        news = portfolio_month(tx.session, _reader(tx, user), *period.bounds())
        text = render_digest(news, period, user, ctx.settings)
        return DigestPreview(username, str(period), period.name(user.language), bool(pref and pref.monthly_digest),
                             news.empty, text.subject, text.body, news)


def last_month(at: datetime | None = None) -> str:
    return str(Month.of((at or now()).astimezone(STOCKHOLM).date()).previous())
