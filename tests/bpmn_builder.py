"""Small BPMN documents built in tests, for one script, condition or timer at a time."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="defs" targetNamespace="http://iphs-flow.se/test">"""


def script_process(script: str, key: str = "script_case") -> bytes:
    """start -> user task 'enter' (form formula) -> script task -> user task 'after' -> end."""
    return f"""{HEAD}
  <bpmn:process id="{key}" name="Skript" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="l" name="Idéägare">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>enter</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>run_script</bpmn:flowNodeRef><bpmn:flowNodeRef>after</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="enter" name="Ange värde">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formKey" value="formula" /></spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:scriptTask id="run_script" name="Kör skript">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>{escape(script)}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="after" name="Efteråt">
      <bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formKey" value="formula" /></spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="enter" />
    <bpmn:sequenceFlow id="f2" sourceRef="enter" targetRef="run_script" />
    <bpmn:sequenceFlow id="f3" sourceRef="run_script" targetRef="after" />
    <bpmn:sequenceFlow id="f4" sourceRef="after" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def condition_process(condition: str, key: str = "condition_case") -> bytes:
    """start -> exclusive gateway with one conditional and one default flow -> two user tasks."""
    return f"""{HEAD}
  <bpmn:process id="{key}" name="Villkor" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="l" name="Idéägare">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>gw</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>yes</bpmn:flowNodeRef><bpmn:flowNodeRef>no</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:exclusiveGateway id="gw" default="f_no"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f_yes</bpmn:outgoing><bpmn:outgoing>f_no</bpmn:outgoing></bpmn:exclusiveGateway>
    <bpmn:userTask id="yes" name="Ja"><bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formKey" value="formula" /></spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f_yes</bpmn:incoming><bpmn:outgoing>f_end1</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="no" name="Nej"><bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formKey" value="formula" /></spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f_no</bpmn:incoming><bpmn:outgoing>f_end2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f_end1</bpmn:incoming><bpmn:incoming>f_end2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="gw" />
    <bpmn:sequenceFlow id="f_yes" sourceRef="gw" targetRef="yes">
      <bpmn:conditionExpression>{escape(condition)}</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no" sourceRef="gw" targetRef="no" />
    <bpmn:sequenceFlow id="f_end1" sourceRef="yes" targetRef="end" />
    <bpmn:sequenceFlow id="f_end2" sourceRef="no" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def timer_process(expression: str, key: str = "timer_case") -> bytes:
    """start -> timer intermediate event with `expression` -> user task -> end."""
    return f"""{HEAD}
  <bpmn:process id="{key}" name="Timer" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="l" name="Idéägare">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>wait</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>work</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait" name="Vänta"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDate>{escape(expression)}</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:userTask id="work" name="Arbeta"><bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formKey" value="formula" /></spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait" />
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="work" />
    <bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def user_task_process(properties: dict[str, str], lane: str = "Idéägare", key: str = "plain") -> bytes:
    props = "".join(f"<spiffworkflow:property name={quoteattr(k)} value={quoteattr(v)} />"
                    for k, v in properties.items())
    return f"""{HEAD}
  <bpmn:process id="{key}" name="Enkel" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="l" name={quoteattr(lane)}>
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>work</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="work" name="Arbeta"><bpmn:extensionElements><spiffworkflow:properties>
      {props}</spiffworkflow:properties></bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work" />
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def decision_process(key: str = "decision_case") -> bytes:
    """start -> business rule task (decision 'routing') -> user task -> end."""
    return f"""{HEAD}
  <bpmn:process id="{key}" name="Beslutstabell" isExecutable="true">
    <bpmn:laneSet id="lanes"><bpmn:lane id="l" name="Idéägare">
      <bpmn:flowNodeRef>start</bpmn:flowNodeRef><bpmn:flowNodeRef>route</bpmn:flowNodeRef>
      <bpmn:flowNodeRef>work</bpmn:flowNodeRef><bpmn:flowNodeRef>end</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:businessRuleTask id="route" name="Vem beslutar">
      <bpmn:extensionElements>
        <spiffworkflow:calledDecisionId>routing</spiffworkflow:calledDecisionId>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:businessRuleTask>
    <bpmn:userTask id="work" name="Besluta"><bpmn:extensionElements><spiffworkflow:properties>
        <spiffworkflow:property name="formKey" value="formula" />
        <spiffworkflow:property name="candidateGroup" value="decider_group" /></spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="route" />
    <bpmn:sequenceFlow id="f2" sourceRef="route" targetRef="work" />
    <bpmn:sequenceFlow id="f3" sourceRef="work" targetRef="end" />
  </bpmn:process>
</bpmn:definitions>""".encode()


def decision_table(input_entry: str = "&lt; 500000", output_entry: str = '"unit-managers"') -> bytes:
    """Decision 'routing': budget -> decider_group, one rule and a catch-all."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="routing_defs" name="Routing"
             namespace="http://iphs-flow.se/test">
  <decision id="routing" name="Vem beslutar">
    <decisionTable id="routing_table" hitPolicy="FIRST">
      <input id="in_budget" label="Budget"><inputExpression id="ie_budget" typeRef="number">
        <text>budget</text></inputExpression></input>
      <output id="out_group" label="Beslutsgrupp" name="decider_group" typeRef="string" />
      <rule id="r1"><inputEntry id="r1_in"><text>{input_entry}</text></inputEntry>
        <outputEntry id="r1_out"><text>{output_entry}</text></outputEntry></rule>
      <rule id="r2"><inputEntry id="r2_in"><text>-</text></inputEntry>
        <outputEntry id="r2_out"><text>"city-executive-office"</text></outputEntry></rule>
    </decisionTable>
  </decision>
</definitions>""".encode()
