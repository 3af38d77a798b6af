"""Reads of a case, noted for the audit trail (`services/audit.py`).

Noted when someone opens a case, its record or history in the API, or one of its files —
in a small transaction of its own, after the check that they may (a refused read is in
the access log instead).
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

from iphs_flow.bootstrap import AppContext
from iphs_flow.engine.clock import now
from iphs_flow.store.tables import CaseRead

from .permissions import Actor

log = logging.getLogger(__name__)


def record_read(ctx: AppContext, case_id: int, actor: Actor, what: str = "case") -> None:
    """Note that `actor` opened the case; a failure to note it is logged, never the reader's problem."""
    try:
        with ctx.uow.write() as tx:
            tx.session.add(CaseRead(case_id=case_id, username=actor.username, at=now(), what=what[:100]))
            tx.commit()
    except SQLAlchemyError:
        log.exception("could not record that %s read case %s", actor.username, case_id)
