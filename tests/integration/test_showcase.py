"""The public showcase (issue 18): who publishes, what the public sees, and what it never sees."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from lxml import etree
from PIL import Image
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCAT, DCTERMS, RDF
from sqlalchemy import select

from iphs_flow.services import accounts, showcase
from iphs_flow.services.errors import Conflict, Forbidden, InvalidInput, NotFound
from iphs_flow.services.queries import showcase as public
from iphs_flow.store.tables import CaseEvent, Publication
from tests.integration.showcase_world import (
    DRAFT_TEXT,
    GONE_TEXT,
    PERSON_EMAIL,
    PRIVATE,
    PUBLIC,
    approve_g1,
    article,
    build,
)
from tests.integration.web_world import client_for, post_form
from tests.people import LEAD, SHIPPED_PROCESS_PEOPLE

ATOM = "{http://www.w3.org/2005/Atom}"
BASE = "/stadens-innovationer"


@pytest.fixture
def world(db_url):
    w = build(db_url)
    yield w
    w.ctx.close()


def outlets(w) -> dict[str, str]:
    """Every public answer, in both languages."""
    client = w.app.test_client()
    paths = ["/", BASE, f"{BASE}?mal=11", f"{BASE}?steg=0", f"{BASE}?fas=testar", f"{BASE}/{w.published_id}",
             f"{BASE}/flode.atom", f"{BASE}/oppna-data.json", f"{BASE}/oppna-data.csv",
             f"{BASE}/oppna-data/datamangd.rdf", f"{BASE}/oppna-data/datamangd.jsonld"]
    found = {}
    for path in paths:
        for lang in ("", "en"):
            target = path if not lang else path + ("&" if "?" in path else "?") + "lang=en"
            response = client.get(target)
            assert response.status_code == 200, (target, response.status_code)
            found[target] = response.get_data(as_text=True)
    return found


def test_nothing_unpublished_private_secret_or_personal_reaches_any_public_answer(world) -> None:
    answers = outlets(world)
    emails = [u.email for u in accounts.list_users(world.ctx) if u.email]
    assert PERSON_EMAIL in emails
    planted = [*PRIVATE.values(), *DRAFT_TEXT.values(), *GONE_TEXT.values(), "UTKASTÄRENDE-4410",
               "AVPUBLICERATÄRENDE-6610", "Fel ärende", *emails, "utkast@stad.se", "borta@stad.se",
               *(name for name, _roles, _groups in SHIPPED_PROCESS_PEOPLE.values()), "Adam Administratör",
               "INTERNTITEL", "IPHS 20", "FOTOGRAF-8812", "BILDTEXT-8813"]
    for where, body in answers.items():
        for value in planted:
            assert value not in body, f"{value!r} leaked into {where}"
        for username in ("anna", "lena", "erik", "dagny", "pelle", "adam"):
            assert not re.search(rf"\b{username}\b", body), f"the user name {username} leaked into {where}"
    # ... while what the lead wrote is there.
    assert PUBLIC.title in answers[BASE] and PUBLIC.title in answers[f"{BASE}/flode.atom"]
    assert PUBLIC.contact_email in answers[f"{BASE}/{world.published_id}"]
    assert "Hållbara städer och samhällen" in answers[f"{BASE}/{world.published_id}"]
    assert "Sustainable cities and communities" in answers[f"{BASE}/{world.published_id}?lang=en"]


def test_a_draft_an_unpublished_and_a_never_published_case_are_all_404(world) -> None:
    client = world.app.test_client()
    for publication_id in (world.draft_id, world.gone_id, 999999, 2**70):
        assert client.get(f"{BASE}/{publication_id}").status_code == 404
        assert client.get(f"{BASE}/{publication_id}/bild").status_code == 404
    with pytest.raises(NotFound):
        public.public_case(world.ctx, world.draft_id)
    assert client.get(f"{BASE}?mal=abc").status_code == 400
    assert client.get(f"{BASE}?steg=99").status_code == 400
    assert client.get(f"{BASE}?fas=hemligt").status_code == 400


def test_only_innovation_leads_and_administrators_publish_update_and_unpublish(world) -> None:
    case_id = world.draft.case_id
    owner = client_for(world.app, "anna")  # sees her case, is no lead
    stranger = client_for(world.app, "erik")  # may not see the case at all
    assert owner.get(f"/cases/{case_id}/publicering").status_code == 403
    assert stranger.get(f"/cases/{case_id}/publicering").status_code == 404
    form = {"title": "x", "summary": "y", "unit": "z", "contact_email": "a@stad.se", "action": "publish",
            "version": "1"}
    assert post_form(owner, f"/cases/{case_id}/publicering", form).status_code == 403
    assert post_form(stranger, f"/cases/{case_id}/publicering", form).status_code == 404
    assert post_form(owner, f"/cases/{world.published.case_id}/publicering/avpublicera",
                     {"reason": "nej", "version": "1"}).status_code == 403
    assert owner.get(f"/cases/{world.published.case_id}/publicering/forhandsgranska").status_code == 403
    with pytest.raises(Forbidden):
        showcase.unpublish(world.ctx, world.published.case_id, "nej", accounts.actor_for(world.ctx, "anna"),
                           expected_version=1)
    assert public.public_case(world.ctx, world.published_id).title == PUBLIC.title  # nothing changed

    admin = client_for(world.app, "adam")
    record = showcase.publication_of(world.ctx, case_id, LEAD)
    response = post_form(admin, f"/cases/{case_id}/publicering",
                         {**form, "title": "Publicerat av en administratör", "version": str(record.version)})
    assert response.status_code == 302
    assert world.app.test_client().get(f"{BASE}/{world.draft_id}").status_code == 200
    kinds = [e.kind for e in _history(world, case_id)]
    assert kinds[-2:] == ["publication_draft_saved", "publication_published"]


def _history(world, case_id):
    with world.ctx.uow.read() as tx:
        rows = tx.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)).all()
        return [type("Event", (), {"kind": e.kind, "actor": e.actor, "data": dict(e.data or {})}) for e in rows]


def test_publishing_updating_and_unpublishing_are_in_the_case_history_with_who_and_why(world) -> None:
    lead = client_for(world.app, "lena")
    case_id = world.published.case_id
    page = lead.get(f"/cases/{case_id}/publicering").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    changed = {"title": "Trygg väg till skolan – nu i fem skolor", "summary": PUBLIC.summary, "goals": ["3", "11"],
               "unit": PUBLIC.unit, "contact_email": PUBLIC.contact_email, "image_alt": "Upplyst gångtunnel",
               "action": "save", "version": version}
    assert post_form(lead, f"/cases/{case_id}/publicering", changed).status_code == 302
    assert "nu i fem skolor" in world.app.test_client().get(f"{BASE}/{world.published_id}").get_data(as_text=True)
    # The same form submitted again is stale: refused, nothing changed.
    again = post_form(lead, f"/cases/{case_id}/publicering", {**changed, "title": "Dubbelt"})
    assert again.status_code == 409
    page = lead.get(f"/cases/{case_id}/publicering").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    assert post_form(lead, f"/cases/{case_id}/publicering/avpublicera", {"reason": " ", "version": version}
                     ).status_code == 422
    assert post_form(lead, f"/cases/{case_id}/publicering/avpublicera",
                     {"reason": "Piloten pausas", "version": version}).status_code == 302
    assert world.app.test_client().get(f"{BASE}/{world.published_id}").status_code == 404
    events = [(e.kind, e.actor, e.data.get("reason")) for e in _history(world, case_id)
              if e.kind.startswith("publication_")]
    assert events == [("publication_published", "lena", None), ("publication_updated", "lena", None),
                      ("publication_unpublished", "lena", "Piloten pausas")]
    with world.ctx.uow.read() as tx:
        row = tx.session.scalar(select(Publication).where(Publication.case_id == case_id))
        assert (row.state, row.unpublished_by, row.unpublish_reason) == ("unpublished", "lena", "Piloten pausas")
    history_page = lead.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Avpublicerat från webbplatsen" in history_page


def _gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, "GIF")
    return out.getvalue()


def test_bad_input_is_refused_next_to_each_field_and_saves_nothing(world) -> None:
    lead = client_for(world.app, "lena")
    case_id = world.published.case_id
    before = public.public_case(world.ctx, world.published_id)
    response = post_form(lead, f"/cases/{case_id}/publicering", {
        "title": "", "summary": "", "unit": "x" * 301, "contact_email": "inte en adress", "goals": ["99"],
        "image_alt": "", "action": "save", "version": "1",
        "image": (io.BytesIO(_gif()), "bild.png")}, content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field in ("title", "summary", "unit", "contact_email", "image"):
        assert f'id="{field}-error"' in html and f'id="{field}" ' in html or f'id="{field}"' in html
        assert f'aria-describedby="{field}-error' in html
    assert "Bilden måste vara PNG, JPEG eller WebP." in html and "Välj mål ur listan." in html
    assert public.public_case(world.ctx, world.published_id) == before


def test_a_persons_own_address_needs_their_consent_and_withdrawing_it_takes_it_off_at_once(world) -> None:
    pelle = accounts.actor_for(world.ctx, "pelle")
    record = showcase.publication_of(world.ctx, world.published.case_id, LEAD)
    values = showcase.PublicationInput(PUBLIC.title, PUBLIC.summary, PUBLIC.goals, PUBLIC.unit,
                                       PERSON_EMAIL.upper(), "Upplyst gångtunnel")
    with pytest.raises(InvalidInput) as refused:
        showcase.save_publication(world.ctx, world.published.case_id, values, LEAD, publish=True,
                                  expected_version=record.version)
    assert list(refused.value.fields) == ["contact_email"]
    client = client_for(world.app, "pelle")
    assert client.get("/konto/kontaktsamtycke").status_code == 200
    assert post_form(client, "/konto/kontaktsamtycke", {"consent": "give"}).status_code == 302
    record = showcase.save_publication(world.ctx, world.published.case_id, values, LEAD, publish=True,
                                       expected_version=record.version)
    assert PERSON_EMAIL.upper() in world.app.test_client().get(f"{BASE}/{world.published_id}").get_data(as_text=True)
    _view, removed = showcase.withdraw_contact_consent(world.ctx, pelle)
    assert removed == 1
    page = world.app.test_client().get(f"{BASE}/{world.published_id}").get_data(as_text=True)
    assert PERSON_EMAIL not in page.lower()
    with pytest.raises(Conflict):
        showcase.withdraw_contact_consent(world.ctx, pelle)


def test_the_picture_is_re_encoded_without_exif_or_gps_and_needs_alt_text(world) -> None:
    client = world.app.test_client()
    response = client.get(f"{BASE}/{world.published_id}/bild")
    assert response.status_code == 200 and response.mimetype == "image/jpeg"
    assert b"FOTOGRAF-8812" not in response.data and b"Exif" not in response.data
    picture = Image.open(io.BytesIO(response.data))
    assert picture.format == "JPEG" and not picture.getexif() and "icc_profile" not in picture.info
    assert 'alt="Upplyst gångtunnel"' in client.get(f"{BASE}/{world.published_id}").get_data(as_text=True)
    record = showcase.publication_of(world.ctx, world.published.case_id, LEAD)
    with pytest.raises(InvalidInput) as refused:
        showcase.save_publication(world.ctx, world.published.case_id, PUBLIC, LEAD, publish=True,
                                  expected_version=record.version)  # PUBLIC has no alt text
    assert "image_alt" in refused.value.fields


def test_the_preview_shows_exactly_what_the_public_page_shows(world) -> None:
    lead = client_for(world.app, "lena")
    preview = lead.get(f"/cases/{world.published.case_id}/publicering/forhandsgranska")
    assert preview.status_code == 200 and preview.headers["Cache-Control"] == "no-store"
    shown = world.app.test_client().get(f"{BASE}/{world.published_id}")
    assert article(preview.get_data(as_text=True)) == article(shown.get_data(as_text=True))
    draft_preview = lead.get(f"/cases/{world.draft.case_id}/publicering/forhandsgranska").get_data(as_text=True)
    assert DRAFT_TEXT["title"] in draft_preview and "Den är inte publicerad nu." in draft_preview
    image = lead.get(f"/cases/{world.published.case_id}/publicering/bild")
    assert image.status_code == 200 and image.data == world.app.test_client().get(
        f"{BASE}/{world.published_id}/bild").data


def test_conditional_get_answers_304_until_the_case_moves_a_stage(world) -> None:
    client = world.app.test_client()
    paths = [BASE, f"{BASE}/{world.published_id}", f"{BASE}/flode.atom", f"{BASE}/oppna-data.json",
             f"{BASE}/oppna-data.csv", f"{BASE}/oppna-data/datamangd.rdf", f"{BASE}/oppna-data/datamangd.jsonld"]
    first = {}
    for path in paths:
        response = client.get(path)
        assert response.headers["Cache-Control"] == "public, max-age=300"
        assert response.headers["ETag"] and response.headers["Last-Modified"]
        first[path] = response
        again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == response.headers["ETag"]
        since = client.get(path, headers={"If-Modified-Since": response.headers["Last-Modified"]})
        assert since.status_code == 304
    english = client.get(f"{BASE}?lang=en")
    assert english.headers["ETag"] != first[BASE].headers["ETag"] and english.headers["Content-Language"] == "en"
    feed = etree.fromstring(first[f"{BASE}/flode.atom"].data)
    before = feed.find(f"{ATOM}entry/{ATOM}updated").text
    case_page = first[f"{BASE}/{world.published_id}"].get_data(as_text=True)
    assert 'id="public-stage">Behov inlämnat<' in case_page

    approve_g1(world.published)  # the case moves on to stage 1

    for path in paths:
        moved = client.get(path, headers={"If-None-Match": first[path].headers["ETag"]})
        assert moved.status_code == 200, path
    assert 'id="public-stage">Förstå behovet<' in client.get(f"{BASE}/{world.published_id}").get_data(as_text=True)
    feed = etree.fromstring(client.get(f"{BASE}/flode.atom").data)
    assert feed.find(f"{ATOM}entry/{ATOM}updated").text >= before
    assert "Förstå behovet" in feed.find(f"{ATOM}entry/{ATOM}summary").text


def test_the_atom_feed_is_well_formed_rfc_4287(world) -> None:
    feed = etree.fromstring(world.app.test_client().get(f"{BASE}/flode.atom").data)
    assert feed.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated", "author"):
        assert feed.find(f"{ATOM}{name}") is not None
    assert feed.find(f"{ATOM}link[@rel='self']").get("href").endswith("/flode.atom")
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 1
    for entry in entries:
        for name in ("id", "title", "updated", "summary"):
            assert entry.find(f"{ATOM}{name}") is not None
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", entry.find(f"{ATOM}updated").text)
        assert entry.find(f"{ATOM}link[@rel='alternate']").get("href").endswith(f"/{world.published_id}")
        assert sorted(c.get("term") for c in entry.findall(f"{ATOM}category")) == ["11", "3"]


def test_open_data_json_csv_and_a_dcat_description_that_parses(world) -> None:
    client = world.app.test_client()
    data = json.loads(client.get(f"{BASE}/oppna-data.json").data)
    assert [c["title"] for c in data["cases"]] == [PUBLIC.title]
    case = data["cases"][0]
    assert case["goals"] == [3, 11] and case["stage"] == 0 and case["status"] == "Pågår"
    assert set(case) == {"id", "title", "summary", "goals", "unit", "contact_email", "stage", "stage_name",
                         "status", "phase", "published_at", "updated_at", "url", "image_url", "image_alt"}
    response = client.get(f"{BASE}/oppna-data.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["title"], r["goals"], r["unit"]) for r in rows] == [(PUBLIC.title, "3;11", PUBLIC.unit)]

    for path, fmt in (("datamangd.rdf", "xml"), ("datamangd.jsonld", "json-ld")):
        graph = Graph().parse(data=client.get(f"{BASE}/oppna-data/{path}").get_data(as_text=True), format=fmt)
        dataset = next(graph.subjects(RDF.type, DCAT.Dataset))
        assert {t.language for t in graph.objects(dataset, DCTERMS.title)} == {"sv", "en"}
        assert {t.language for t in graph.objects(dataset, DCTERMS.description)} == {"sv", "en"}
        assert graph.value(dataset, DCTERMS.publisher) is not None and graph.value(dataset, DCTERMS.modified)
        contact = graph.value(dataset, DCAT.contactPoint)
        assert str(graph.value(contact, URIRef("http://www.w3.org/2006/vcard/ns#fn"))) == PUBLIC.unit
        catalog = next(graph.subjects(RDF.type, DCAT.Catalog))
        assert graph.value(catalog, DCTERMS.license) == URIRef("http://creativecommons.org/publicdomain/zero/1.0/")
        media = set()
        for dist in graph.objects(dataset, DCAT.distribution):
            assert graph.value(dist, DCAT.accessURL) and graph.value(dist, DCAT.downloadURL)
            media.add(str(graph.value(dist, DCAT.mediaType)).rsplit("/", 2)[-2:][0] + "/"
                      + str(graph.value(dist, DCAT.mediaType)).rsplit("/", 1)[-1])
        assert media == {"application/json", "text/csv", "application/atom+xml"}
        assert Literal("Stadens innovationer – Stockholms stad", lang="sv") in set(
            graph.objects(dataset, DCTERMS.title))


def test_the_list_filters_by_goal_stage_and_phase_and_pages(world, monkeypatch) -> None:
    client = world.app.test_client()
    record = showcase.publication_of(world.ctx, world.draft.case_id, LEAD)
    showcase.save_publication(world.ctx, world.draft.case_id, showcase.PublicationInput(
        "Andra publicerade", "Text", (11,), "Enheten", "enheten@stad.se"), LEAD, publish=True,
        expected_version=record.version)
    monkeypatch.setattr(public, "PER_PAGE", 1)
    first = client.get(f"{BASE}?mal=11").get_data(as_text=True)
    assert "Andra publicerade" in first and PUBLIC.title not in first and "Sida 1 av 2" in first
    assert 'href="/stadens-innovationer?sida=2&amp;mal=11"' in first
    second = client.get(f"{BASE}?mal=11&sida=2").get_data(as_text=True)
    assert PUBLIC.title in second and "Andra publicerade" not in second and 'rel="prev"' in second
    monkeypatch.setattr(public, "PER_PAGE", 20)
    assert PUBLIC.title in client.get(f"{BASE}?mal=11&steg=0&fas=testar").get_data(as_text=True)
    for query in ("mal=5", "steg=3", "fas=infort"):
        html = client.get(f"{BASE}?{query}").get_data(as_text=True)
        assert PUBLIC.title not in html and "Inga publicerade ärenden matchar filtret." in html
    found = public.public_list(world.ctx, public.Filters(goal=3), page=1, per_page=1)
    assert (found.total, found.pages, [c.title for c in found.items]) == (1, 1, [PUBLIC.title])


def test_the_suggestions_come_from_the_case_title_and_goals_but_never_from_a_secret_field(world) -> None:
    form = public.publish_form(world.ctx, world.draft.case_id, LEAD)
    assert form.suggested_title == "UTKASTÄRENDE-4410" and form.suggested_goals == (11, 4)
    from sqlalchemy import insert

    from iphs_flow.store.tables import SecrecyMarking
    with world.ctx.uow.write() as tx:
        tx.session.execute(insert(SecrecyMarking), [
            {"case_id": world.draft.case_id, "target_kind": "field", "target": key, "provision": "OSL 31 kap. 16 §",
             "marked_by": "lena"} for key in ("title", "agenda2030_goals")])
        tx.session.commit()
    form = public.publish_form(world.ctx, world.draft.case_id, LEAD)
    assert form.suggested_title == "" and form.suggested_goals == ()
