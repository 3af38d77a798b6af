/* The case's BPMN diagram (bpmn-js viewer), with completed, open and failed steps marked.
   The page already lists the same steps as text; this is the picture beside it. Colour is
   never the only cue: each state has its own border (solid, thick, dashed) and, where the
   container asks for it (data-badges), a short text badge beside the element. */
(function () {
  "use strict";
  var box = document.getElementById("bpmn-diagram");
  if (!box || typeof window.BpmnJS === "undefined") { return; }
  function ids(name) { return JSON.parse(box.getAttribute(name) || "[]"); }
  var openIds = ids("data-open");
  var doneIds = ids("data-done");
  var errorIds = ids("data-errored");
  var badges = box.hasAttribute("data-badges") ? JSON.parse(box.getAttribute("data-badges")) : null;
  fetch(box.getAttribute("data-src"), { credentials: "same-origin" })
    .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.text(); })
    .then(function (xml) {
      var viewer = new window.BpmnJS({ container: box });
      return viewer.importXML(xml).then(function () {
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        var overlays = badges ? viewer.get("overlays") : null;
        function mark(list, marker, text) {
          list.forEach(function (id) {
            if (!registry.get(id)) { return; }
            canvas.addMarker(id, marker);
            if (overlays && text) {
              var badge = document.createElement("span");
              badge.className = "step-badge " + marker + "-badge";
              badge.setAttribute("aria-hidden", "true");  // the table below says the same in words
              badge.textContent = text;
              overlays.add(id, "step-state", { position: { top: -14, left: 0 }, html: badge });
            }
          });
        }
        mark(doneIds, "step-done", badges && badges.done);
        mark(openIds, "step-open", badges && badges.open);
        mark(errorIds, "step-failed", badges && badges.failed);
        var focus = errorIds.concat(openIds).map(function (id) { return registry.get(id); })
          .filter(Boolean)[0];
        if (focus) {
          // Centre the step the case waits (or stopped) at, at a readable scale.
          var outer = canvas.viewbox().outer;
          var scale = 0.6;
          var width = outer.width / scale;
          var height = outer.height / scale;
          canvas.viewbox({ x: focus.x + focus.width / 2 - width / 2, y: focus.y + focus.height / 2 - height / 2,
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
