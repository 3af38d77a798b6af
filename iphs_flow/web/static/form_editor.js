/* Form editor: the preview follows the typing. After a pause in typing, the two JSON texts are
   posted to the preview endpoint, which renders them with the same code as users' task forms;
   the returned fragment replaces the preview region (aria-live="polite" announces it).
   Without this script the "Förhandsgranska" button does the same with a page load. */
(function () {
  "use strict";
  var form = document.getElementById("form-editor");
  var region = document.getElementById("form-preview");
  if (!form || !region || !window.fetch) { return; }
  var url = form.getAttribute("data-preview");
  var timer = null;
  var sent = 0;
  function refresh() {
    var body = new FormData();
    body.append("csrf_token", form.elements.csrf_token.value);
    body.append("schema", form.elements.schema.value);
    body.append("ui", form.elements.ui.value);
    var mine = ++sent;
    region.setAttribute("aria-busy", "true");
    fetch(url, { method: "POST", body: body, credentials: "same-origin" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (mine !== sent) { return; }  // a later edit's preview is on its way
        region.innerHTML = html;
        region.setAttribute("aria-busy", "false");
        region.setAttribute("data-updated", String(mine));
      })
      .catch(function () { region.setAttribute("aria-busy", "false"); });
  }
  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, 400);
  }
  form.elements.schema.addEventListener("input", later);
  form.elements.ui.addEventListener("input", later);
}());
