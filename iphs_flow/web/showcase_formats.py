"""The showcase as files for machines: an Atom feed (RFC 4287), JSON and CSV, and a DCAT-AP description.

Each writer takes the public views of queries/showcase.py — the publication's own fields
and the case's stage and status words — and nothing else, so what the files hold is what
the public pages show. The dataset description follows DCAT-AP-SE (the Swedish profile
of DCAT-AP that dataportal.se harvests): a dcat:Catalog with one dcat:Dataset, titles and
descriptions in Swedish and English, the city as publisher, the responsible units as
contact points, CC0 as licence and one distribution per file with its media type.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from typing import Any

from lxml import etree
from rdflib import BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, RDF, XSD

from iphs_flow.services.agenda_goals import Goal
from iphs_flow.services.queries.showcase import PublicCase

ATOM = "http://www.w3.org/2005/Atom"
VCARD = Namespace("http://www.w3.org/2006/vcard/ns#")
LICENSE = "http://creativecommons.org/publicdomain/zero/1.0/"
EU_FILE_TYPE = "http://publications.europa.eu/resource/authority/file-type/"
EU_THEME = "http://publications.europa.eu/resource/authority/data-theme/GOVE"
CSV_COLUMNS = ("id", "title", "summary", "goals", "unit", "contact_email", "stage", "stage_name", "status",
               "phase", "published_at", "updated_at", "url", "image_url", "image_alt")


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z") if at else None


def as_record(case: PublicCase, words: Callable[[PublicCase], tuple[str, str]], url: str,
              image_url: str | None) -> dict[str, Any]:
    """One case as a row of the open data; `words` gives (stage name, status) in the file's language."""
    stage_name, status = words(case)
    return {"id": case.id, "title": case.title, "summary": case.summary, "goals": list(case.goals),
            "unit": case.unit, "contact_email": case.contact_email, "stage": case.stage, "stage_name": stage_name,
            "status": status, "phase": case.phase, "published_at": _iso(case.published_at),
            "updated_at": _iso(case.changed_at), "url": url, "image_url": image_url,
            "image_alt": case.image_alt if image_url else None}


def as_json(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    return json.dumps({**meta, "cases": records}, ensure_ascii=False, indent=1)


def as_csv(records: Iterable[dict[str, Any]]) -> str:
    """RFC 4180 CSV with a header row; goals as numbers separated by `;`."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        row = {**record, "goals": ";".join(str(g) for g in record["goals"])}
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return out.getvalue()


def atom_feed(*, feed_id: str, title: str, subtitle: str, self_url: str, page_url: str, author: str, lang: str,
              updated: datetime | None, entries: list[tuple[PublicCase, str, str, list[Goal]]]) -> bytes:
    """An Atom feed; each entry is (case, its page's URL, a text saying its stage and status, its goals)."""
    E = f"{{{ATOM}}}"
    feed = etree.Element(E + "feed", nsmap={None: ATOM})
    feed.set("{http://www.w3.org/XML/1998/namespace}lang", lang)
    etree.SubElement(feed, E + "id").text = feed_id
    etree.SubElement(feed, E + "title").text = title
    etree.SubElement(feed, E + "subtitle").text = subtitle
    etree.SubElement(feed, E + "updated").text = _iso(updated or datetime(2026, 1, 1, tzinfo=timezone.utc))
    etree.SubElement(feed, E + "link", rel="self", type="application/atom+xml", href=self_url)
    etree.SubElement(feed, E + "link", rel="alternate", type="text/html", href=page_url)
    etree.SubElement(etree.SubElement(feed, E + "author"), E + "name").text = author
    for case, url, where, goals in entries:
        entry = etree.SubElement(feed, E + "entry")
        etree.SubElement(entry, E + "id").text = url
        etree.SubElement(entry, E + "title").text = case.title
        etree.SubElement(entry, E + "updated").text = _iso(case.changed_at)
        if case.published_at:
            etree.SubElement(entry, E + "published").text = _iso(case.published_at)
        etree.SubElement(entry, E + "link", rel="alternate", type="text/html", href=url)
        etree.SubElement(etree.SubElement(entry, E + "author"), E + "name").text = case.unit
        for goal in goals:
            etree.SubElement(entry, E + "category", term=str(goal.number), label=goal.name(lang),
                             scheme="https://www.globalamalen.se/")
        etree.SubElement(entry, E + "summary", type="text").text = f"{where}\n\n{case.summary}"
    return etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)


def dcat_graph(*, catalog_url: str, dataset_url: str, page_url: str, titles: dict[str, str],
               descriptions: dict[str, str], publisher: str, publisher_url: str,
               modified: datetime | None, units: list[tuple[str, str | None]],
               distributions: list[tuple[str, str, str, dict[str, str]]], keywords: dict[str, list[str]]) -> Graph:
    """The catalogue and dataset; `distributions` are (URL, media type, EU file type, titles by language)."""
    g = Graph()
    g.bind("dcat", DCAT)
    g.bind("dcterms", DCTERMS)
    g.bind("foaf", FOAF)
    g.bind("vcard", VCARD)
    catalog, dataset, agent = URIRef(catalog_url), URIRef(dataset_url), URIRef(publisher_url)
    stamp = Literal(_iso(modified) or "2026-01-01T00:00:00Z", datatype=XSD.dateTime)
    g.add((agent, RDF.type, FOAF.Agent))
    g.add((agent, FOAF.name, Literal(publisher, lang="sv")))
    g.add((catalog, RDF.type, DCAT.Catalog))
    g.add((dataset, RDF.type, DCAT.Dataset))
    for lang in ("sv", "en"):
        g.add((catalog, DCTERMS.title, Literal(titles[lang], lang=lang)))
        g.add((catalog, DCTERMS.description, Literal(descriptions[lang], lang=lang)))
        g.add((dataset, DCTERMS.title, Literal(titles[lang], lang=lang)))
        g.add((dataset, DCTERMS.description, Literal(descriptions[lang], lang=lang)))
        for word in keywords.get(lang, []):
            g.add((dataset, DCAT.keyword, Literal(word, lang=lang)))
    g.add((catalog, DCTERMS.publisher, agent))
    g.add((catalog, DCTERMS.license, URIRef(LICENSE)))
    g.add((catalog, DCTERMS.modified, stamp))
    g.add((catalog, DCAT.dataset, dataset))
    g.add((catalog, FOAF.homepage, URIRef(page_url)))
    g.add((dataset, DCTERMS.publisher, agent))
    g.add((dataset, DCTERMS.modified, stamp))
    g.add((dataset, DCTERMS.identifier, Literal(dataset_url)))
    g.add((dataset, DCAT.landingPage, URIRef(page_url)))
    g.add((dataset, DCAT.theme, URIRef(EU_THEME)))
    g.add((dataset, DCTERMS.accessRights,
           URIRef("http://publications.europa.eu/resource/authority/access-right/PUBLIC")))
    for name, email in units or [(publisher, None)]:
        contact = BNode()
        g.add((dataset, DCAT.contactPoint, contact))
        g.add((contact, RDF.type, VCARD.Organization))
        g.add((contact, VCARD.fn, Literal(name)))
        if email:
            g.add((contact, VCARD.hasEmail, URIRef(f"mailto:{email}")))
    for url, media_type, file_type, dist_titles in distributions:
        dist = URIRef(url + "#distribution")
        g.add((dataset, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCAT.accessURL, URIRef(url)))
        g.add((dist, DCAT.downloadURL, URIRef(url)))
        g.add((dist, DCAT.mediaType, URIRef(f"http://www.iana.org/assignments/media-types/{media_type}")))
        g.add((dist, DCTERMS["format"], URIRef(EU_FILE_TYPE + file_type)))
        g.add((dist, DCTERMS.license, URIRef(LICENSE)))
        g.add((dist, DCTERMS.modified, stamp))
        for lang, text in dist_titles.items():
            g.add((dist, DCTERMS.title, Literal(text, lang=lang)))
    return g
