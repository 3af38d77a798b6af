"""The case file (ärendeakt) as CITS ERMS 2.1 descriptive metadata.

Follows how Riksarkivet's FGS Ärendehantering adapts CITS ERMS: the case is an
aggregation of type `caseFile` whose `objectId` is the diarienummer; each document
(handling) is a record with its direction (incoming, outgoing, internal) and its file
as an appendix; gate decisions are actions on the case file with the decider and date.
"""

from __future__ import annotations

from datetime import datetime

from lxml import etree

from .case_xml import clean_text, xml_datetime
from .model import ArchiveCase, Document, Restriction

NS = "https://DILCIS.eu/XML/ERMS"

# ERMS status of a closed case by how it ended.
_STATUS = {"completed": "closed", "terminated": "closed"}


def _q(name: str) -> str:
    return f"{{{NS}}}{name}"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, _q(tag), **attrs)
    if text is not None:
        element.text = clean_text(text)
    return element


def _agent(parent: etree._Element, agent_type: str, name: str, role: str | None = None) -> None:
    agent = _sub(parent, "agent", agentType=agent_type)
    _sub(agent, "name", name)
    if role:
        _sub(agent, "role", role)


def _dates(parent: etree._Element, **dates: datetime | None) -> None:
    present = {k: v for k, v in dates.items() if v is not None}
    if present:
        holder = _sub(parent, "dates")
        for date_type, moment in present.items():
            _sub(holder, "date", xml_datetime(moment), dateType=date_type)


def _restrictions(parent: etree._Element, restrictions: tuple[Restriction, ...]) -> None:
    """Secrecy under OSL as ERMS restrictions (confidential, with the provision as regulation)."""
    for restriction in restrictions:
        element = _sub(parent, "restriction", restrictionType="confidential")
        _sub(element, "explanatoryText", restriction.explanation)
        _sub(element, "regulation", restriction.regulation)


def _record(parent: etree._Element, case: ArchiveCase, document: Document, position: int, path: str) -> None:
    record = _sub(parent, "record", systemIdentifier=document.key, recordType=document.kind,
                  recordPhysicalOrDigital="digital")
    _sub(record, "objectId", f"{case.number}:{position}")
    _sub(record, "title", document.title)
    _sub(record, "runningNumber", str(position))
    _restrictions(record, document.restrictions)
    _sub(record, "direction", directionDefinition=document.direction)
    if document.agent:
        agents = _sub(record, "agents")
        role = "sender" if document.direction == "incoming" else "creator"
        _agent(agents, role, document.agent)
    _dates(record, created=document.created_at)
    info = _sub(record, "additionalInformation")
    _sub(info, "appendix", name=path.rsplit("/", 1)[-1], path=path,
         fileFormat=document.mimetype or "application/xml",
         **({"description": clean_text(document.filename)} if document.filename else {}))


def erms_xml(case: ArchiveCase, document_paths: dict[str, str], *, software: str, created: datetime) -> bytes:
    """`document_paths` maps each document's key to its path inside the package."""
    root = etree.Element(_q("erms"), nsmap={None: NS})
    control = _sub(root, "control")
    _sub(control, "identification", case.organisation, identificationType="organisation")
    _sub(control, "identification", software, identificationType="system")
    maintenance = _sub(control, "maintenanceInformation")
    _sub(maintenance, "maintenanceStatus", value="new")
    agency = _sub(maintenance, "maintenanceAgency")
    if case.organisation_code:
        _sub(agency, "agencyCode", case.organisation_code, type="organisationsnummer")
    _sub(agency, "agencyName", case.organisation)
    history = _sub(maintenance, "maintenanceHistory")
    event = _sub(history, "maintenanceEvent")
    _sub(event, "eventType", value="created")
    _sub(event, "eventDateTime", xml_datetime(created))
    _agent(event, "creator", software)

    aggregation = _sub(_sub(root, "aggregations"), "aggregation", aggregationType="caseFile",
                       systemIdentifier=case.system_id)
    _sub(aggregation, "objectId", case.number)
    _sub(aggregation, "extraId", case.process_key, extraIdType="process")
    if case.classification:
        _sub(aggregation, "classification", case.classification, classificationCode=case.classification)
    _sub(aggregation, "title", case.title)
    _sub(aggregation, "subject", case.process_name)
    _sub(aggregation, "status", value=_STATUS.get(case.status, "closed"))
    _restrictions(aggregation, case.restrictions)
    agents = _sub(aggregation, "agents")
    _agent(agents, "creator", case.owner, "idéägare")
    if case.unit:
        agent = _sub(agents, "agent", agentType="responsible_person")
        _sub(agent, "name", case.unit)
        _sub(agent, "unitName", case.unit)
    if case.description:
        _sub(aggregation, "description", case.description)
    _dates(aggregation, created=case.created_at, closed=case.closed_at)
    for decision in case.decisions:
        action = _sub(aggregation, "action")
        text = f"{decision.gate}: {decision.outcome}" + (f". {decision.reason}" if decision.reason else "")
        _sub(action, "actionText", text)
        _sub(action, "actionType", "beslut")
        _sub(_sub(action, "dates"), "actionDate", xml_datetime(decision.decided_at), dateType="decision")
        if decision.decider:
            _agent(_sub(action, "agents"), "authorising_person", decision.decider)
    for position, document in enumerate(case.documents, start=1):
        _record(aggregation, case, document, position, document_paths[document.key])
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
