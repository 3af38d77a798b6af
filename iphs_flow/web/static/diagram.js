/* The case's BPMN diagram (bpmn-js viewer), with open steps and completed steps marked.
   The page already lists the same steps as text; this is the picture beside it. */
(function () {
  "use strict";
  var box = document.getElementById("bpmn-diagram");
  if (!box || typeof window.BpmnJS === "undefined") { return; }
  var openIds = JSON.parse(box.getAttribute("data-open") || "[]");
  var doneIds = JSON.parse(box.getAttribute("data-done") || "[]");
  fetch(box.getAttribute("data-src"), { credentials: "same-origin" })
    .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.text(); })
    .then(function (xml) {
      var viewer = new window.BpmnJS({ container: box });
      return viewer.importXML(xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        doneIds.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "step-done"); } });
        openIds.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, "step-open"); } });
        var current = openIds.length ? registry.get(openIds[0]) : null;
        if (current) {
          // Centre the step the case waits at, at a readable scale.
          var outer = canvas.viewbox().outer;
          var scale = 0.6;
          var width = outer.width / scale;
          var height = outer.height / scale;
          canvas.viewbox({ x: current.x + current.width / 2 - width / 2, y: current.y + current.height / 2 - height / 2,
                           width: width, height: height });
        } else {
          canvas.zoom("fit-viewport");
        }
        box.setAttribute("data-ready", "true");
      });
    })
    .catch(function () {
      box.setAttribute("data-ready", "failed");
      box.textContent = box.getAttribute("data-failed") || "";
    });
}());
