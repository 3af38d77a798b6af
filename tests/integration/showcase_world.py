"""A published case, a draft and an unpublished one over the shipped processes, for the showcase tests."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

from PIL import Image
from sqlalchemy import insert

from iphs_flow.app import create_app
from iphs_flow.services import accounts, showcase
from iphs_flow.store.tables import SecrecyMarking
from tests.integration.process_driver import G1_APPROVE, NEED, Walk
from tests.integration.web_world import shipped_web_context
from tests.people import LEAD, PASSWORD

# Distinctive values planted where the public must never see them.
PRIVATE = {
    "title": "INTERNTITEL-5521 skolvägar",
    "need": "PRIVATBEHOV-7731 om en namngiven elev",
    "need_owner": "BEHOVSAGARE-3319 Eva Ek",
    "current_situation": "SEKRETESS-9931 affärsvillkor",  # marked secret
}
DRAFT_TEXT = {"title": "UTKASTTITEL-4411", "summary": "UTKASTTEXT-4412 ska inte synas", "unit": "UTKASTENHET-4413"}
GONE_TEXT = {"title": "AVPUBLICERAD-6611", "summary": "AVPUBLICERADTEXT-6612", "unit": "AVPUBLICERADENHET-6613"}
PUBLIC = showcase.PublicationInput(
    title="Trygg väg till skolan", summary="Staden prövar belysning vid mörka passager.\n\nPiloten pågår i tre skolor.",
    goals=(3, 11), unit="Utbildningsförvaltningen", contact_email="innovation@stad.se", image_alt="")
PERSON_EMAIL = "pelle.person@stad.se"


def jpeg_with_metadata() -> bytes:
    """A photo carrying an EXIF artist, a description and GPS coordinates."""
    picture = Image.new("RGB", (64, 48), (200, 30, 30))
    exif = Image.Exif()
    exif[0x013B] = "FOTOGRAF-8812"
    exif[0x010E] = "BILDTEXT-8813"
    exif[0x8825] = {1: "N", 2: (59.0, 19.0, 48.0), 3: "E", 4: (18.0, 4.0, 12.0)}
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


@dataclass
class ShowcaseWorld:
    ctx: Any
    app: Any
    published: Walk
    published_id: int
    draft: Walk
    draft_id: int
    gone: Walk
    gone_id: int


def build(url: str) -> ShowcaseWorld:
    ctx = shipped_web_context(url, login_rate="10000/minute")
    accounts.add_user(ctx, "adam", "Adam Administratör", password=PASSWORD, roles={"administrator"},
                      groups={"administrators"})
    accounts.add_user(ctx, "pelle", "Pelle Person", password=PASSWORD, email=PERSON_EMAIL)
    accounts.add_user(ctx, "lena2", "Lena Extra", password=PASSWORD, email="lena.extra@stad.se",
                      roles={"innovation_lead"}, groups={"innovation-leads"})
    walks = []
    for title in (PRIVATE["title"], "UTKASTÄRENDE-4410", "AVPUBLICERATÄRENDE-6610"):
        walk = Walk.start(ctx)
        walk.complete("need", {**NEED, "title": title, "need": PRIVATE["need"], "need_owner": PRIVATE["need_owner"],
                               "current_situation": PRIVATE["current_situation"], "agenda2030_goals": [11, 4]})
        walk.complete("assign_lead", {"innovation_lead": "lena"})
        walks.append(walk)
    published, draft, gone = walks
    with ctx.uow.write() as tx:
        tx.session.execute(insert(SecrecyMarking), [
            {"case_id": w.case_id, "target_kind": "field", "target": "current_situation",
             "provision": "OSL 31 kap. 16 §", "marked_by": "lena"} for w in walks])
        tx.session.commit()
    image = jpeg_with_metadata()
    view = showcase.save_publication(ctx, published.case_id, showcase.PublicationInput(
        **{**PUBLIC.__dict__, "image_alt": "Upplyst gångtunnel"}), LEAD, publish=True, expected_version=None,
        image=image)
    d = showcase.save_publication(ctx, draft.case_id, showcase.PublicationInput(
        DRAFT_TEXT["title"], DRAFT_TEXT["summary"], (5,), DRAFT_TEXT["unit"], "utkast@stad.se"), LEAD,
        publish=False, expected_version=None)
    g = showcase.save_publication(ctx, gone.case_id, showcase.PublicationInput(
        GONE_TEXT["title"], GONE_TEXT["summary"], (5,), GONE_TEXT["unit"], "borta@stad.se"), LEAD,
        publish=True, expected_version=None)
    showcase.unpublish(ctx, gone.case_id, "Fel ärende", LEAD, expected_version=g.version)
    return ShowcaseWorld(ctx, create_app(context=ctx), published, view.id, draft, d.id, gone, g.id)


def approve_g1(walk: Walk) -> None:
    walk.complete("G1_decide", G1_APPROVE)


def article(html: str) -> str:
    """The public case's article, with the picture's address (public or preview) left out."""
    found = re.search(r'<article class="public-case" id="public-case">.*?</article>', html, re.S)
    assert found, html[:2000]
    return re.sub(r'<img src="[^"]*"', '<img src=""', found.group(0))
