// Gate forms: show only the fields of the chosen outcome (issue 16). Progressive enhancement:
// without JavaScript the server does the same after "Visa fälten för valt beslut".
(function () {
  "use strict";
  var form = document.querySelector("form.task-form");
  if (!form) { return; }
  var radios = form.querySelectorAll('input[type="radio"][name="decision"]');
  if (!radios.length) { return; }
  var groups = form.querySelectorAll(".outcome-field[data-outcomes]");
  function chosen() {
    for (var i = 0; i < radios.length; i++) { if (radios[i].checked) { return radios[i].value; } }
    return null;
  }
  function update() {
    var outcome = chosen();
    for (var i = 0; i < groups.length; i++) {
      var outcomes = groups[i].getAttribute("data-outcomes").split(" ");
      groups[i].hidden = outcomes.indexOf(outcome) === -1;
    }
  }
  var button = form.querySelector(".choose-outcome");
  if (button) { button.hidden = true; }
  for (var i = 0; i < radios.length; i++) { radios[i].addEventListener("change", update); }
  update();
})();
