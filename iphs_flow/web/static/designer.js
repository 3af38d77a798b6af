/* The process designer: bpmn-js Modeler plus our own properties panel and keyboard alternatives.

   The panel reads and writes only what IPHS Flow's engine reads (docs/modelling.md) through
   the modeler's `modeling` commands, so undo/redo and the saved XML agree. Everything the
   canvas offers by mouse that a designer needs (choosing an element, adding a user task,
   editing properties) also works from the element list and the form beside it. */
(function () {
  "use strict";
  var root = document.getElementById("designer");
  if (!root || typeof window.BpmnJS === "undefined") { return; }

  var T = JSON.parse(root.getAttribute("data-i18n") || "{}");
  var laneRoles = JSON.parse(root.getAttribute("data-lane-roles") || "{}");
  var formKeys = JSON.parse(root.getAttribute("data-form-keys") || "[]");
  var csrf = root.getAttribute("data-csrf");
  var state = { version: parseInt(root.getAttribute("data-version"), 10), dirty: false, busy: false, selected: null };
  var statusBox = document.getElementById("designer-status");
  var problemsSection = document.getElementById("problems-section");
  var problemsList = document.getElementById("problems");
  var elementSelect = document.getElementById("element-select");
  var panel = document.getElementById("properties");
  var formKeyList = document.getElementById("form-keys");
  var modeler, modeling, moddle, registry, selection, canvas;


  function t(key, values) {
    var text = T[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(values[name])); });
    return text;
  }

  function announce(message) {
    // replace the text so screen readers announce it even when the same message repeats
    statusBox.textContent = "";
    window.setTimeout(function () { statusBox.textContent = message; }, 50);
  }

  function request(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (response) {
      return response.json().catch(function () { return { detail: String(response.status) }; })
        .then(function (data) { return { status: response.status, ok: response.ok, data: data }; });
    });
  }

  // ------------------------------------------------------------------ element helpers

  function bo(element) { return element.businessObject; }
  function isA(element, type) { return bo(element) && bo(element).$instanceOf(type); }

  function label(element) {
    var name = bo(element).name;
    var local = element.type.replace("bpmn:", "");
    var type = T["type_" + local] || local;
    return type + ": " + (name ? name + " (" + element.id + ")" : element.id);
  }

  function editable(element) {
    return element.type !== "label" && bo(element) && !isA(element, "bpmn:Process") &&
      !isA(element, "bpmn:Collaboration") && element.type !== "bpmn:Association" &&
      !isA(element, "bpmn:TextAnnotation") && element.type.indexOf("bpmn:") === 0;
  }

  function extension(element, type) {
    var ext = bo(element).get("extensionElements");
    if (!ext) { return null; }
    return (ext.get("values") || []).filter(function (v) { return v.$instanceOf(type); })[0] || null;
  }

  function ensureExtensionElements(element) {
    var object = bo(element);
    var ext = object.get("extensionElements");
    if (!ext) {
      ext = moddle.create("bpmn:ExtensionElements", { values: [] });
      ext.$parent = object;
      modeling.updateModdleProperties(element, object, { extensionElements: ext });
    }
    return ext;
  }

  function ensureExtension(element, type, attrs) {
    var found = extension(element, type);
    if (found) { return found; }
    var ext = ensureExtensionElements(element);
    found = moddle.create(type, attrs || {});
    found.$parent = ext;
    modeling.updateModdleProperties(element, ext, { values: (ext.get("values") || []).concat([found]) });
    return found;
  }

  function removeExtension(element, found) {
    var ext = bo(element).get("extensionElements");
    if (!ext || !found) { return; }
    modeling.updateModdleProperties(element, ext, {
      values: (ext.get("values") || []).filter(function (v) { return v !== found; })
    });
  }

  function spiffProperty(element, name) {
    var props = extension(element, "spiffworkflow:Properties");
    if (!props) { return ""; }
    var found = (props.get("properties") || []).filter(function (p) { return p.name === name; })[0];
    return found ? (found.value || "") : "";
  }

  function setSpiffProperty(element, name, value) {
    var props = extension(element, "spiffworkflow:Properties");
    if (!props && !value) { return; }
    props = props || ensureExtension(element, "spiffworkflow:Properties", { properties: [] });
    var list = props.get("properties") || [];
    var found = list.filter(function (p) { return p.name === name; })[0];
    if (!value) {
      if (found) { modeling.updateModdleProperties(element, props, { properties: list.filter(function (p) { return p !== found; }) }); }
      return;
    }
    if (found) {
      modeling.updateModdleProperties(element, found, { value: value });
    } else {
      found = moddle.create("spiffworkflow:Property", { name: name, value: value });
      found.$parent = props;
      modeling.updateModdleProperties(element, props, { properties: list.concat([found]) });
    }
  }

  function bodyExtension(element, type) {
    var found = extension(element, type);
    return found ? (found.value || "") : "";
  }

  function setBodyExtension(element, type, value) {
    var found = extension(element, type);
    if (!value) { if (found) { removeExtension(element, found); } return; }
    if (found) { modeling.updateModdleProperties(element, found, { value: value }); }
    else { ensureExtension(element, type, { value: value }); }
  }

  function documentation(element) {
    var docs = bo(element).get("documentation") || [];
    return docs.length ? (docs[0].text || "") : "";
  }

  function timerDefinition(element) {
    var defs = bo(element).get ? (bo(element).get("eventDefinitions") || []) : [];
    return defs.filter(function (d) { return d.$instanceOf("bpmn:TimerEventDefinition"); })[0] || null;
  }

  function timerValue(definition) {
    var kinds = ["timeDuration", "timeDate", "timeCycle"];
    for (var i = 0; i < kinds.length; i += 1) {
      var expr = definition.get(kinds[i]);
      if (expr) { return { kind: kinds[i], body: expr.body || "" }; }
    }
    return { kind: "timeDuration", body: "" };
  }

  function laneOf(element) {
    var lanes = registry.filter(function (e) { return e.type === "bpmn:Lane"; });
    for (var i = 0; i < lanes.length; i += 1) {
      var refs = bo(lanes[i]).get("flowNodeRef") || [];
      if (refs.indexOf(bo(element)) !== -1) { return bo(lanes[i]); }
    }
    return null;
  }

  function roleText(laneName) {
    var role = Object.prototype.hasOwnProperty.call(laneRoles, laneName) ? laneRoles[laneName] : null;
    return t("lane_role", { lane: laneName || "–", role: role || t("no_role") });
  }

  // ------------------------------------------------------------------ the properties form

  var fieldCount = 0;

  function field(labelText, control, help) {
    fieldCount += 1;
    var id = "prop-" + fieldCount;
    var wrap = document.createElement("div");
    wrap.className = "field";
    var lab = document.createElement("label");
    lab.setAttribute("for", id);
    lab.textContent = labelText;
    control.id = id;
    wrap.appendChild(lab);
    if (help) {
      var hint = document.createElement("p");
      hint.className = "hint";
      hint.id = id + "-help";
      hint.textContent = help;
      control.setAttribute("aria-describedby", hint.id);
      wrap.appendChild(hint);
    }
    wrap.appendChild(control);
    panel.appendChild(wrap);
    return control;
  }

  function input(value, name) {
    var el = document.createElement("input");
    el.type = "text";
    el.value = value || "";
    el.name = name;
    return el;
  }

  function textarea(value, name, rows) {
    var el = document.createElement("textarea");
    el.value = value || "";
    el.name = name;
    el.rows = rows || 3;
    return el;
  }

  function select(options, value, name) {
    var el = document.createElement("select");
    el.name = name;
    options.forEach(function (option) {
      var o = document.createElement("option");
      o.value = option[0];
      o.textContent = option[1];
      if (option[0] === value) { o.selected = true; }
      el.appendChild(o);
    });
    return el;
  }

  function readOnly(labelText, text) {
    var wrap = document.createElement("div");
    wrap.className = "field";
    var term = document.createElement("p");
    term.className = "prop-label";
    term.textContent = labelText;
    var val = document.createElement("p");
    val.className = "prop-value";
    val.textContent = text;
    wrap.appendChild(term);
    wrap.appendChild(val);
    panel.appendChild(wrap);
  }

  // each writer applies one field's value to the element; run on change and on "apply"
  var writers = [];

  function bind(control, fieldName, write) {
    var apply = function () {
      if (control.getAttribute("data-applied") === control.value) { return; }
      control.setAttribute("data-applied", control.value);
      write(control.type === "checkbox" ? control.checked : control.value.trim());
      state.dirty = true;
    };
    control.setAttribute("data-applied", control.value);
    control.addEventListener("change", function () { apply(); announce(t("applied", { field: fieldName })); });
    writers.push(apply);
  }

  function renderPanel(element) {
    panel.textContent = "";
    writers = [];
    state.selected = element;
    if (!element) {
      var none = document.createElement("p");
      none.textContent = t("none_selected");
      panel.appendChild(none);
      return;
    }
    var heading = document.createElement("p");
    heading.className = "prop-heading";
    heading.textContent = t("properties_of", { name: label(element) });
    panel.appendChild(heading);
    readOnly(t("f_id"), element.id);

    var nameInput = field(t("f_name"), input(bo(element).name, "name"));
    bind(nameInput, t("f_name"), function (value) { modeling.updateProperties(element, { name: value || undefined }); refreshList(); });

    if (!isA(element, "bpmn:SequenceFlow") && !isA(element, "bpmn:Lane") && !isA(element, "bpmn:Participant")) {
      var doc = field(t("f_documentation"), textarea(documentation(element), "documentation", 3));
      bind(doc, t("f_documentation"), function (value) {
        modeling.updateProperties(element, {
          documentation: value ? [moddle.create("bpmn:Documentation", { text: value })] : []
        });
      });
    }

    if (isA(element, "bpmn:Lane")) {
      readOnly(t("f_lane"), roleText(bo(element).name));
    }

    if (isA(element, "bpmn:UserTask")) { renderUserTask(element); }
    if (isA(element, "bpmn:ScriptTask")) {
      var script = field(t("f_script"), textarea(bo(element).script, "script", 6));
      bind(script, t("f_script"), function (value) { modeling.updateProperties(element, { script: value || undefined, scriptFormat: "python" }); });
    }
    if (isA(element, "bpmn:BusinessRuleTask")) {
      var decision = field(t("f_calledDecisionId"), input(bodyExtension(element, "spiffworkflow:CalledDecisionId"), "calledDecisionId"));
      bind(decision, t("f_calledDecisionId"), function (value) { setBodyExtension(element, "spiffworkflow:CalledDecisionId", value); });
    }
    if (isA(element, "bpmn:ServiceTask")) { renderServiceTask(element); }
    if (isA(element, "bpmn:Task") && !isA(element, "bpmn:ScriptTask")) {
      ["preScript", "postScript"].forEach(function (kind) {
        var type = "spiffworkflow:" + kind.charAt(0).toUpperCase() + kind.slice(1);
        var box = field(t("f_" + kind), textarea(bodyExtension(element, type), kind, 3));
        bind(box, t("f_" + kind), function (value) { setBodyExtension(element, type, value); });
      });
    }
    var timer = timerDefinition(element);
    if (timer) { renderTimer(element, timer); }
    if (isA(element, "bpmn:SequenceFlow")) { renderFlow(element); }
    if (isA(element, "bpmn:ExclusiveGateway") || isA(element, "bpmn:InclusiveGateway")) { renderGateway(element); }

    var applyButton = document.createElement("button");
    applyButton.type = "submit";
    applyButton.textContent = t("apply");
    panel.appendChild(applyButton);
  }

  function renderUserTask(element) {
    var lane = laneOf(element);
    readOnly(t("f_lane"), lane ? roleText(lane.name) : t("no_lane"));
    var formKey = spiffProperty(element, "formKey");
    var formInput = field(t("f_formKey"), input(formKey, "formKey"));
    formInput.setAttribute("list", "form-keys");
    var formActions = document.createElement("div");
    formActions.className = "form-actions";
    panel.appendChild(formActions);
    var showMissing = function () {
      formActions.textContent = "";
      var key = formInput.value.trim();
      var editor = root.getAttribute("data-form-editor-url");
      if (key && formKeys.indexOf(key) !== -1 && editor) {
        var link = document.createElement("a");
        link.href = editor.replace("FORMKEY", encodeURIComponent(key));
        link.textContent = t("edit_form", { key: key });
        formActions.appendChild(link);
        return;
      }
      if (!key || formKeys.indexOf(key) !== -1) { return; }
      var note = document.createElement("p");
      note.textContent = t("form_missing", { key: key });
      var create = document.createElement("button");
      create.type = "button";
      create.textContent = t("create_form", { key: key });
      create.addEventListener("click", function () { createForm(key, bo(element).name || key); });
      formActions.appendChild(note);
      formActions.appendChild(create);
    };
    bind(formInput, t("f_formKey"), function (value) { setSpiffProperty(element, "formKey", value); showMissing(); });
    showMissing();
    var due = field(t("f_dueDate"), input(spiffProperty(element, "dueDate"), "dueDate"));
    bind(due, t("f_dueDate"), function (value) { setSpiffProperty(element, "dueDate", value); });
    var stages = [["", t("stage_none")]];
    for (var s = 0; s <= 6; s += 1) { stages.push([String(s), String(s)]); }
    var stage = field(t("f_stage"), select(stages, spiffProperty(element, "stage"), "stage"));
    bind(stage, t("f_stage"), function (value) { setSpiffProperty(element, "stage", value); });
    var group = field(t("f_candidateGroup"), input(spiffProperty(element, "candidateGroup"), "candidateGroup"));
    bind(group, t("f_candidateGroup"), function (value) { setSpiffProperty(element, "candidateGroup", value); });
  }

  function renderServiceTask(element) {
    var operator = extension(element, "spiffworkflow:ServiceTaskOperator");
    var op = field(t("f_operator"), input(operator ? operator.id : "", "operator"), "notify");
    bind(op, t("f_operator"), function (value) {
      var found = extension(element, "spiffworkflow:ServiceTaskOperator");
      if (!value) { removeExtension(element, found); return; }
      if (found) { modeling.updateModdleProperties(element, found, { id: value }); }
      else { ensureExtension(element, "spiffworkflow:ServiceTaskOperator", { id: value }); }
    });
    if (!operator) { return; }
    var list = operator.get("parameterList");
    var params = list ? (list.get("parameters") || []) : [];
    params.forEach(function (param) {
      var box = field(t("f_param", { id: param.id }), input(param.value, "param-" + param.id));
      bind(box, t("f_param", { id: param.id }), function (value) { modeling.updateModdleProperties(element, param, { value: value }); });
    });
    var newId = field(t("f_newParamId"), input("", "new-param-id"));
    var newValue = field(t("f_newParamValue"), input("", "new-param-value"));
    var add = document.createElement("button");
    add.type = "button";
    add.textContent = t("add_param");
    add.addEventListener("click", function () {
      var id = newId.value.trim();
      if (!id) { newId.focus(); return; }
      var holder = operator.get("parameterList");
      if (!holder) {
        holder = moddle.create("spiffworkflow:Parameters", { parameters: [] });
        holder.$parent = operator;
        modeling.updateModdleProperties(element, operator, { parameterList: holder });
      }
      var param = moddle.create("spiffworkflow:Parameter", { id: id, type: "str", value: newValue.value.trim() });
      param.$parent = holder;
      modeling.updateModdleProperties(element, holder, { parameters: (holder.get("parameters") || []).concat([param]) });
      state.dirty = true;
      renderPanel(element);
      announce(t("applied", { field: id }));
    });
    panel.appendChild(add);
  }

  function renderTimer(element, definition) {
    var current = timerValue(definition);
    var kind = field(t("f_timerType"), select([["timeDuration", t("timeDuration")], ["timeDate", t("timeDate")],
      ["timeCycle", t("timeCycle")]], current.kind, "timerType"));
    var expr = field(t("f_timer"), input(current.body, "timer"));
    var write = function () {
      var changes = { timeDuration: undefined, timeDate: undefined, timeCycle: undefined };
      if (expr.value.trim()) {
        changes[kind.value] = moddle.create("bpmn:FormalExpression", { body: expr.value.trim() });
      }
      modeling.updateModdleProperties(element, definition, changes);
    };
    bind(kind, t("f_timerType"), write);
    bind(expr, t("f_timer"), write);
  }

  function renderFlow(element) {
    var source = element.source;
    if (!source || !(isA(source, "bpmn:ExclusiveGateway") || isA(source, "bpmn:InclusiveGateway"))) { return; }
    var condition = bo(element).get("conditionExpression");
    var box = field(t("f_condition"), input(condition ? condition.body : "", "condition"));
    bind(box, t("f_condition"), function (value) {
      modeling.updateProperties(element, {
        conditionExpression: value ? moddle.create("bpmn:FormalExpression", { body: value }) : undefined
      });
    });
    var check = document.createElement("input");
    check.type = "checkbox";
    check.name = "isDefault";
    check.checked = bo(source).get("default") === bo(element);
    var wrap = field(t("f_isDefault"), check);
    wrap.parentNode.className = "field checkbox";
    check.addEventListener("change", function () {
      modeling.updateProperties(source, { "default": check.checked ? bo(element) : undefined });
      state.dirty = true;
      announce(t("applied", { field: t("f_isDefault") }));
    });
  }

  function renderGateway(element) {
    var outgoing = element.outgoing || [];
    var options = [["", t("no_default")]].concat(outgoing.map(function (flow) {
      var target = flow.target ? (bo(flow.target).name || flow.target.id) : "";
      return [flow.id, (bo(flow).name ? bo(flow).name + " " : "") + "→ " + target + " (" + flow.id + ")"];
    }));
    var current = bo(element).get("default");
    var box = field(t("f_default"), select(options, current ? current.id : "", "default"));
    bind(box, t("f_default"), function (value) {
      var flow = value ? registry.get(value) : null;
      modeling.updateProperties(element, { "default": flow ? bo(flow) : undefined });
    });
  }

  panel.addEventListener("submit", function (event) {
    event.preventDefault();
    writers.forEach(function (write) { write(); });
    announce(t("applied", { field: t("f_name") + " …" }));
  });

  function createForm(key, title) {
    var schema = {
      "$schema": "https://json-schema.org/draft/2020-12/schema", "title": title, "type": "object",
      "properties": { "comment": { "type": "string", "title": t("comment_field") } }
    };
    request(root.getAttribute("data-form-url").replace("FORMKEY", encodeURIComponent(key)),
      { schema: schema, ui: {}, expected_version: state.version })
      .then(function (result) {
        if (!result.ok) { return fail(result); }
        state.version = result.data.version;
        if (formKeys.indexOf(key) === -1) { formKeys.push(key); fillFormKeys(); }
        renderPanel(state.selected);
        announce(t("form_created", { key: key }));
      });
  }

  function fillFormKeys() {
    formKeyList.textContent = "";
    formKeys.slice().sort().forEach(function (key) {
      var option = document.createElement("option");
      option.value = key;
      formKeyList.appendChild(option);
    });
  }

  // ------------------------------------------------------------------ the element list

  function refreshList() {
    var current = state.selected ? state.selected.id : "";
    elementSelect.textContent = "";
    var first = document.createElement("option");
    first.value = "";
    first.textContent = t("choose");
    elementSelect.appendChild(first);
    registry.filter(editable).sort(function (a, b) { return label(a).localeCompare(label(b), "sv"); })
      .forEach(function (element) {
        var option = document.createElement("option");
        option.value = element.id;
        option.textContent = label(element);
        if (element.id === current) { option.selected = true; }
        elementSelect.appendChild(option);
      });
  }

  function choose(id) {
    var element = id ? registry.get(id) : null;
    if (!element) { selection.select(null); renderPanel(null); return null; }
    selection.select(element);
    if (element.waypoints === undefined) { canvas.scrollToElement(element); }
    return element;
  }

  elementSelect.addEventListener("change", function () { choose(elementSelect.value); });

  document.getElementById("btn-add-task").addEventListener("click", function () {
    var source = state.selected;
    if (!source) { announce(t("select_first")); elementSelect.focus(); return; }
    if (isA(source, "bpmn:SequenceFlow") || isA(source, "bpmn:EndEvent") || isA(source, "bpmn:Lane") ||
        isA(source, "bpmn:Participant")) {
      announce(t("cannot_add"));
      return;
    }
    var autoPlace = modeler.get("autoPlace");
    var factory = modeler.get("elementFactory");
    // one outgoing flow: the new task goes in between; otherwise it is appended as a new branch
    var onlyFlow = (source.outgoing || []).length === 1 && !isA(source, "bpmn:Gateway") ? source.outgoing[0] : null;
    var shape = autoPlace.append(source, factory.createShape({ type: "bpmn:UserTask" }));
    modeling.updateProperties(shape, { name: t("new_task") });
    if (onlyFlow) {
      modeling.reconnectStart(onlyFlow, shape, { x: shape.x + shape.width, y: shape.y + shape.height / 2 });
      modeling.layoutConnection(onlyFlow);
    }
    state.dirty = true;
    refreshList();
    choose(shape.id);
    elementSelect.value = shape.id;
    announce(t("added", { name: bo(source).name || source.id }));
    var nameField = panel.querySelector("input[name=name]");
    if (nameField) { nameField.focus(); nameField.select(); }
  });

  // ------------------------------------------------------------------ save, validate, deploy

  function fail(result) {
    var detail = (result.data && result.data.detail) || String(result.status);
    if (result.status === 409) { announce(t("conflict", { detail: detail })); }
    else { announce(t("failed", { detail: detail })); }
    if (result.data && result.data.problems) { showProblems(result.data.problems); }
    return null;
  }

  function save(force) {
    if (!force && !state.dirty) { return Promise.resolve(true); }
    announce(t("saving"));
    return modeler.saveXML({ format: true }).then(function (out) {
      return request(root.getAttribute("data-save-url"), { content: out.xml, expected_version: state.version });
    }).then(function (result) {
      if (!result.ok) { fail(result); return false; }
      state.version = result.data.version;
      state.dirty = false;
      announce(t("saved", { v: state.version }));
      return true;
    });
  }

  function showProblems(problems) {
    problemsList.textContent = "";
    problemsSection.hidden = problems.length === 0;
    problems.forEach(function (problem) {
      var item = document.createElement("li");
      item.className = "problem-" + (problem.severity || "error");
      var where = [problem.file_name, problem.line ? t("line", { n: problem.line }) : ""].filter(Boolean).join(", ");
      var text = problem.message + (where ? " (" + where + ")" : "");
      if (problem.element_id && registry.get(problem.element_id)) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "link";
        button.textContent = problem.element_id + ": " + text;
        button.addEventListener("click", function () {
          choose(problem.element_id);
          elementSelect.value = problem.element_id;
          var first = panel.querySelector("input, select, textarea");
          if (first) { first.focus(); }
        });
        item.appendChild(button);
      } else {
        item.textContent = (problem.element_id ? problem.element_id + ": " : "") + text;
      }
      problemsList.appendChild(item);
    });
  }

  function guarded(action) {
    return function () {
      if (state.busy) { return; }
      state.busy = true;
      writers.forEach(function (write) { write(); });
      Promise.resolve().then(action).catch(function (err) { announce(t("failed", { detail: err.message || err })); })
        .then(function () { state.busy = false; });
    };
  }

  document.getElementById("btn-save").addEventListener("click", guarded(function () { return save(true); }));

  document.getElementById("btn-validate").addEventListener("click", guarded(function () {
    return save(false).then(function (saved) {
      if (!saved) { return null; }
      return request(root.getAttribute("data-validate-url")).then(function (result) {
        if (!result.ok) { return fail(result); }
        var problems = result.data.problems;
        showProblems(problems);
        announce(problems.length ? t("problems", { n: problems.length }) : t("no_problems"));
        return null;
      });
    });
  }));

  document.getElementById("btn-deploy").addEventListener("click", guarded(function () {
    return save(false).then(function (saved) {
      if (!saved) { return null; }
      announce(t("deploying"));
      return request(root.getAttribute("data-deploy-url")).then(function (result) {
        if (!result.ok) {
          if (result.data && result.data.problems) {
            showProblems(result.data.problems);
            announce(t("not_deployed", { n: result.data.problems.length }));
            return null;
          }
          return fail(result);
        }
        showProblems([]);
        var mine = result.data.deployed.filter(function (d) { return d.key === root.getAttribute("data-key"); })[0] ||
          result.data.deployed[0];
        announce(mine.created ? t("deployed", { v: mine.version, name: mine.name }) : t("unchanged", { v: mine.version }));
        root.setAttribute("data-deployed-version", String(mine.version));
        // the draft became a version; the next save starts a fresh draft from it
        return fetch(root.getAttribute("data-draft-url"), { credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (draft) { state.version = draft.version; state.dirty = false; });
      });
    });
  }));

  // ------------------------------------------------------------------ start

  fillFormKeys();
  fetch(root.getAttribute("data-descriptor-url"), { credentials: "same-origin" })
    .then(function (response) { return response.json(); })
    .then(function (descriptor) {
      modeler = new window.BpmnJS({ container: document.getElementById("canvas"), moddleExtensions: { spiffworkflow: descriptor } });
      modeling = modeler.get("modeling");
      moddle = modeler.get("moddle");
      registry = modeler.get("elementRegistry");
      selection = modeler.get("selection");
      canvas = modeler.get("canvas");
      return fetch(root.getAttribute("data-draft-url"), { credentials: "same-origin" });
    })
    .then(function (response) { return response.json(); })
    .then(function (draft) {
      state.version = draft.version;
      return modeler.importXML(draft.files[root.getAttribute("data-file")]);
    })
    .then(function () {
      canvas.zoom("fit-viewport");
      modeler.on("selection.changed", function (event) {
        var element = event.newSelection.length === 1 ? event.newSelection[0] : null;
        if (element && element.type === "label") { element = element.labelTarget; }
        renderPanel(element && editable(element) ? element : null);
        if (element && elementSelect.value !== element.id) { elementSelect.value = element.id; }
      });
      modeler.on("commandStack.changed", function () { state.dirty = true; });
      modeler.on("shape.remove", function () { window.setTimeout(refreshList, 0); });
      modeler.on("shape.added", function () { window.setTimeout(refreshList, 0); });
      refreshList();
      renderPanel(null);
      root.setAttribute("data-ready", "true");
      announce(t("loaded"));
    })
    .catch(function (err) {
      root.setAttribute("data-ready", "failed");
      announce(t("load_failed", { detail: err.message || err }));
    });
}());
