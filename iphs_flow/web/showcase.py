"""The city's public showcase (issue 18): what the city is testing and has implemented, without sign-in.

Swedish URLs (/stadens-innovationer ...); English is the same page with `?lang=en`, which
the language link on every public page sets, so a page's address alone decides its
language and a cache can keep both. Every answer carries an ETag and Last-Modified made
from how many published cases it covers and when the newest of them last changed, and a
conditional GET that still matches is answered 304 before anything is read but that
stamp. The pages set no cookie of their own and use no JavaScript; filters are plain GET
forms. A draft, an unpublished case or an id that never existed is the same 404.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.vocabulary import stage_word
from iphs_flow.services.agenda_goals import Goal, agenda_goals
from iphs_flow.services.errors import NotFound
from iphs_flow.services.queries import showcase as public
from iphs_flow.web import showcase_formats as formats

bp = Blueprint("showcase", __name__)

BASE = "/stadens-innovationer"
MAX_AGE = 300  # seconds a cache may keep a public answer without asking again
STAGES = range(0, 7)
# Bumped when the pages' markup changes, so caches do not keep an old page under an unchanged stamp.
MARKUP = "1"


def _ctx() -> AppContext:
    return current_app.extensions["iphs"]


def lang() -> str:
    return "en" if request.args.get("lang") == "en" else "sv"


def goals() -> tuple[Goal, ...]:
    return agenda_goals(_ctx().settings.forms_dir)


def goal_names(numbers: tuple[int, ...], language: str) -> list[Goal]:
    known = {g.number: g for g in goals()}
    return [known[n] for n in numbers if n in known]


def _base_url() -> str:
    configured = _ctx().settings.base_url.rstrip("/")
    return configured or request.url_root.rstrip("/")


def absolute(endpoint: str, **values: Any) -> str:
    return _base_url() + url_for(endpoint, **values)


def in_lang(endpoint: str, **values: Any) -> str:
    """A public link in the page's language (Swedish links carry no parameter)."""
    if lang() == "en":
        values["lang"] = "en"
    return url_for(endpoint, **values)


def _http_date(at: datetime | None) -> datetime:
    return (at or datetime(2026, 1, 1, tzinfo=timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)


class RenderedCache:
    """Rendered public answers by ETag, in this process: an unchanged stamp means an unchanged answer.

    The ETag is made from everything an answer depends on (the page, its filters and language,
    how many cases it covers and when the newest of them last changed), so a hit can never be
    stale; entries of an older stamp simply stop being asked for and fall out (least recently used).
    """

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[Any, str]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[Any, str] | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
            return found

    def put(self, key: str, value: tuple[Any, str]) -> None:
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def _rendered() -> RenderedCache:
    """The app's own cache (each app serves one database)."""
    return current_app.extensions.setdefault("iphs_showcase_rendered", RenderedCache())


def conditional(kind: str, stamp: public.Stamp, render: Callable[[], tuple[Any, str]], *parts: object) -> Response:
    """Answer 304 when the client's copy is current, else render (or reuse the rendering of the same
    ETag); both with the caching headers."""
    last = _http_date(stamp.changed_at)
    seed = "|".join(str(p) for p in (MARKUP, kind, lang(), stamp.count, stamp.changed_at, stamp.edits, *parts))
    etag = hashlib.sha256(seed.encode()).hexdigest()[:32]
    matches = request.if_none_match.contains(etag) if request.if_none_match else (
        request.if_modified_since is not None and request.if_modified_since >= last)
    if matches:
        response = Response(status=304)
    else:
        key = f"{request.host}|{etag}"  # absolute links in feeds and open data name the host
        cache = _rendered()
        found = cache.get(key)
        if found is None:
            found = render()
            cache.put(key, found)
        response = Response(found[0], mimetype=found[1])
    response.set_etag(etag)
    response.last_modified = last
    signed_in = current_app.config.get("SESSION_COOKIE_NAME", "session") in request.cookies
    response.headers["Cache-Control"] = f"{'private' if signed_in else 'public'}, max-age={MAX_AGE}"
    response.headers["Content-Language"] = lang()
    return response


def _int_arg(name: str, allowed: range | None = None) -> int | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6):
        abort(400)
    value = int(raw)
    if allowed is not None and value not in allowed:
        abort(400)
    return value


def page_words(case: public.PublicCase) -> tuple[str, str]:
    """(stage name, status) of a public case, in the page's language."""
    stage = _(case.stage_word) if case.stage_word else "–"
    words = case.status
    return stage, (_(words.text, date=words.date) if words.date else _(words.text))


def phase_name(phase: str) -> str:
    return {"testar": _("Pågår och testas"), "infort": _("Infört"), "avslutat": _("Avslutat")}[phase]


def _helpers() -> dict[str, Any]:
    return {"page_words": page_words, "phase_name": phase_name, "goal_names": goal_names, "in_lang": in_lang,
            "lang": lang, "all_goals": goals(), "stage_numbers": list(STAGES), "stage_label": stage_label,
            "switch_url": switch_url}


def switch_url(target: str) -> str:
    """This page in the other language: the same address and filters, with or without `lang=en`."""
    args = {k: v for k, v in request.args.items() if k != "lang"}
    if target == "en":
        args["lang"] = "en"
    return url_for(request.endpoint or "showcase.listing", **(request.view_args or {}), **args)


def stage_label(stage: int) -> str:
    word = stage_word(stage)
    return _(word) if word else str(stage)


def render_case_page(case: public.PublicCase, image_url: str | None, preview: bool = False, **extra: Any) -> str:
    """The public case page; the lead's preview renders this same template with `preview`."""
    return render_template("showcase_case.html", c=case, image_url=image_url, preview=preview, **extra, **_helpers())


@bp.get(BASE)
def listing() -> Response:
    filters = public.Filters(goal=_int_arg("mal", range(1, 100)), stage=_int_arg("steg", STAGES),
                             phase=request.args.get("fas") if request.args.get("fas") in public.PHASES else None)
    if request.args.get("fas") and filters.phase is None:
        abort(400)
    page = _int_arg("sida") or 1
    with force_locale(lang()):
        stamp = public.stamp(_ctx(), filters)

        def render() -> tuple[str, str]:
            found = public.public_list(_ctx(), filters, page, per_page=public.PER_PAGE, known=stamp)
            return render_template("showcase_list.html", found=found, filters=filters, **_helpers()), "text/html"

        return conditional("list", stamp, render, filters, page)


@bp.get(f"{BASE}/<int:publication_id>")
def case(publication_id: int) -> Response:
    with force_locale(lang()):
        try:
            found = public.public_case(_ctx(), publication_id)
        except NotFound:
            abort(404)
        image = (in_lang("showcase.image", publication_id=found.id, v=found.image_hash[:12])
                 if found.image_hash else None)
        return conditional("case", public.Stamp(1, found.changed_at, found.edits),
                           lambda: (render_case_page(found, image), "text/html"), found.id)


@bp.get(f"{BASE}/<int:publication_id>/bild")
def image(publication_id: int) -> Response:
    try:
        data, media_type, digest = public.public_image(_ctx(), publication_id)
    except NotFound:
        abort(404)
    response = Response(data, mimetype=media_type)
    response.set_etag(digest[:32])
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    response.headers["Content-Disposition"] = "inline"
    return response.make_conditional(request)


def _feed_stamp() -> public.Stamp:
    return public.stamp(_ctx())


@bp.get(f"{BASE}/flode.atom")
def feed() -> Response:
    with force_locale(lang()):
        stamp = _feed_stamp()

        def render() -> tuple[bytes, str]:
            latest = public.public_list(_ctx(), public.Filters(), 1, per_page=50, known=stamp).items
            entries = []
            for c in latest:
                stage, status = page_words(c)
                where = _("Steg: %(stage)s. Status: %(status)s.", stage=stage, status=status)
                entries.append((c, absolute("showcase.case", publication_id=c.id, **_lang_arg()), where,
                                goal_names(c.goals, lang())))
            body = formats.atom_feed(
                feed_id=absolute("showcase.listing"), title=_("Stadens innovationer – %(org)s",
                                                               org=_ctx().settings.organisation),
                subtitle=_("Vad staden testar och har infört, och var varje ärende står."),
                self_url=absolute("showcase.feed", **_lang_arg()), page_url=absolute("showcase.listing", **_lang_arg()),
                author=_ctx().settings.organisation, lang=lang(), updated=stamp.changed_at, entries=entries)
            return body, "application/atom+xml"

        return conditional("feed", stamp, render)


def _lang_arg() -> dict[str, str]:
    return {"lang": "en"} if lang() == "en" else {}


def _records() -> list[dict[str, Any]]:
    rows = []
    for c in public.all_published(_ctx()):
        image_url = absolute("showcase.image", publication_id=c.id, v=c.image_hash[:12]) if c.image_hash else None
        rows.append(formats.as_record(c, page_words, absolute("showcase.case", publication_id=c.id, **_lang_arg()),
                                      image_url))
    return rows


@bp.get(f"{BASE}/oppna-data.json")
def open_json() -> Response:
    with force_locale(lang()):
        stamp = _feed_stamp()

        def render() -> tuple[str, str]:
            meta = {"title": _("Stadens innovationer"), "publisher": _ctx().settings.organisation,
                    "license": formats.LICENSE, "language": lang(),
                    "modified": formats._iso(stamp.changed_at), "description": absolute("showcase.dataset_rdf"),
                    "goals": {str(g.number): g.name(lang()) for g in goals()}}
            return formats.as_json(_records(), meta), "application/json"

        return conditional("json", stamp, render)


@bp.get(f"{BASE}/oppna-data.csv")
def open_csv() -> Response:
    with force_locale(lang()):
        stamp = _feed_stamp()
        response = conditional("csv", stamp, lambda: (formats.as_csv(_records()), "text/csv"))
        response.headers["Content-Disposition"] = 'inline; filename="stadens-innovationer.csv"'
        if response.status_code == 200:
            response.headers["Content-Type"] = "text/csv; charset=utf-8; header=present"
        return response


def _dataset_graph(stamp: public.Stamp) -> Any:
    org = _ctx().settings.organisation
    units = sorted({(c.unit, c.contact_email) for c in public.all_published(_ctx())}, key=lambda u: (u[0], u[1] or ""))
    with force_locale("sv"):
        sv = (_("Stadens innovationer"),
              _("De ärenden i stadens innovationsarbete som staden har publicerat: vad staden testar och har "
                "infört, med mål i Agenda 2030, ansvarig enhet, kontakt och var varje ärende står."),
              [_("innovation"), _("Agenda 2030"), _("kommun")])
    with force_locale("en"):
        en = (_("Stadens innovationer"),
              _("De ärenden i stadens innovationsarbete som staden har publicerat: vad staden testar och har "
                "infört, med mål i Agenda 2030, ansvarig enhet, kontakt och var varje ärende står."),
              [_("innovation"), _("Agenda 2030"), _("kommun")])
    return formats.dcat_graph(
        catalog_url=absolute("showcase.dataset_rdf") + "#catalog",
        dataset_url=absolute("showcase.dataset_rdf") + "#dataset",
        page_url=absolute("showcase.listing"),
        titles={"sv": f"{sv[0]} – {org}", "en": f"{en[0]} – {org}"},
        descriptions={"sv": sv[1], "en": en[1]}, publisher=org, publisher_url=_base_url() + "/#publisher",
        modified=stamp.changed_at, units=units,
        distributions=[
            (absolute("showcase.open_json"), "application/json", "JSON", {"sv": "JSON", "en": "JSON"}),
            (absolute("showcase.open_csv"), "text/csv", "CSV", {"sv": "CSV", "en": "CSV"}),
            (absolute("showcase.feed"), "application/atom+xml", "ATOM", {"sv": "Atom-flöde", "en": "Atom feed"}),
        ],
        keywords={"sv": sv[2], "en": en[2]})


@bp.get(f"{BASE}/oppna-data/datamangd.rdf")
def dataset_rdf() -> Response:
    stamp = _feed_stamp()
    return conditional("dcat-rdf", stamp,
                       lambda: (_dataset_graph(stamp).serialize(format="pretty-xml"), "application/rdf+xml"))


@bp.get(f"{BASE}/oppna-data/datamangd.jsonld")
def dataset_jsonld() -> Response:
    stamp = _feed_stamp()
    return conditional("dcat-jsonld", stamp,
                       lambda: (_dataset_graph(stamp).serialize(format="json-ld"), "application/ld+json"))
