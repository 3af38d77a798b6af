/* Decision table editor: dmn-js (modeler) in place of the XML textarea.
   The textarea stays the source of truth for the server: before the form is sent, the
   table's XML is written back into it, so Save and Validate post exactly what is shown.
   If dmn-js is missing or cannot read the file, the textarea simply stays visible. */
(function () {
  "use strict";
  var form = document.getElementById("dmn-form");
  var box = document.getElementById("dmn-editor");
  var textarea = document.getElementById("dmn-xml");
  var field = document.getElementById("dmn-xml-field");
  var help = document.getElementById("dmn-editor-help");
  if (!form || !box || !textarea || typeof window.DmnJS === "undefined") { return; }
  box.hidden = false;
  var modeler = new window.DmnJS({ container: box });
  modeler.importXML(textarea.value).then(function () {
    var table = modeler.getViews().filter(function (view) { return view.type === "decisionTable"; })[0];
    return table ? modeler.open(table) : null;
  }).then(function () {
    field.hidden = true;
    help.hidden = false;
    box.setAttribute("data-ready", "true");
  }).catch(function () {
    box.hidden = true;
    box.setAttribute("data-ready", "failed");
    var note = document.createElement("p");
    note.className = "notice";
    note.setAttribute("role", "status");
    note.textContent = box.getAttribute("data-failed");
    field.parentNode.insertBefore(note, field);
  });
  form.addEventListener("submit", function (event) {
    if (box.getAttribute("data-ready") !== "true") { return; }
    event.preventDefault();
    var submitter = event.submitter;
    modeler.saveXML({ format: true }).then(function (result) {
      textarea.value = result.xml;
      if (submitter && submitter.name) {
        // form.submit() sends no button, so the pressed one (Save, Validate, Save anyway) rides along
        var carry = document.createElement("input");
        carry.type = "hidden";
        carry.name = submitter.name;
        carry.value = submitter.value;
        form.appendChild(carry);
      }
      HTMLFormElement.prototype.submit.call(form);
    });
  });
}());
