// Similar cases while a need is typed: refreshes the server-rendered list of
// #similar-cases after a pause in typing. Without JavaScript the form's
// "Sök liknande ärenden" button does the same with a full page.
(function () {
  "use strict";
  var panel = document.getElementById("similar-cases");
  if (!panel || !panel.dataset.url) { return; }
  var form = panel.closest("form");
  var list = document.getElementById("similar-list");
  if (!form || !list) { return; }
  var names = ["title", "need", "problem", "suggestion", "current_situation", "target_group"];
  var timer = null;
  var last = "";

  function text() {
    return names.map(function (name) {
      var field = form.elements.namedItem(name);
      return field && typeof field.value === "string" ? field.value : "";
    }).filter(Boolean).join(" ").slice(0, 500);
  }

  function refresh() {
    var now = text();
    if (now.trim().length < 12 || now === last) { return; }
    last = now;
    var url = panel.dataset.url + "?text=" + encodeURIComponent(now) + "&case=" + encodeURIComponent(panel.dataset.case || "");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null && now === last) { list.innerHTML = html; } })
      .catch(function () { /* the button still works */ });
  }

  form.addEventListener("input", function (event) {
    if (names.indexOf(event.target.name) === -1) { return; }
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 700);
  });
})();
