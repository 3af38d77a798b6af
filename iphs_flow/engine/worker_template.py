"""What every engine worker is forked from: the engine imported and warmed once.

The forkserver imports this module (set_forkserver_preload) before it forks the first
worker, so each worker - and each replacement of a killed one - starts with the engine,
SpiffWorkflow and the Swedish holiday calendar already loaded. Without it a fresh worker
spent its first step (often a second on a busy machine) importing the `holidays`
package's country tables and SpiffWorkflow's parser.
"""

from __future__ import annotations

import logging
from datetime import date

from . import calendar, runtime, workers  # noqa: F401 - imported here so every worker has them
from .models import parse_deployment

_WARM_UP = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="warm_defs"
                  targetNamespace="http://iphs-flow.se/warm">
  <bpmn:process id="warm_up" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="task" name="Uppgift"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="task" />
    <bpmn:sequenceFlow id="f2" sourceRef="task" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>
"""


def warm() -> None:
    """Load the holiday tables of this year and the next, and parse and run a two-step process."""
    today = date.today()
    for year in (today.year, today.year + 1):
        calendar.is_working_day(date(year, 1, 2))
    model = parse_deployment({"warm_up.bpmn": _WARM_UP})["warm_up"]
    result = runtime.start(model, {})
    runtime.complete(model, result.state, result.open_tasks[0].id, {})


try:
    warm()
except Exception:  # noqa: BLE001 - warming is an optimisation; a worker still works without it
    logging.getLogger(__name__).warning("could not warm the engine worker template", exc_info=True)
