// Evaluate page: a live character counter for the synopsis (no inline scripts: CSP).
(function () {
  "use strict";

  function format(n) {
    return n.toLocaleString("en-US");
  }

  function attach(textarea) {
    if (textarea.dataset.counterReady) return;
    textarea.dataset.counterReady = "1";
    var output = document.getElementById(textarea.dataset.counter);
    if (!output) return;
    var min = parseInt(textarea.dataset.min, 10) || 0;
    var max = parseInt(textarea.dataset.max, 10) || 0;
    function update() {
      var length = textarea.value.trim().length;
      var text = format(length) + " / " + format(max) + " characters";
      if (length < min) text += " (at least " + format(min) + ")";
      output.textContent = text;
      output.classList.toggle("evaluate-counter--short", length < min);
      output.classList.toggle("evaluate-counter--ok", length >= min && length <= max);
    }
    textarea.addEventListener("input", update);
    update();
  }

  function scan(root) {
    (root || document).querySelectorAll("textarea[data-counter]").forEach(attach);
  }

  // "Sequel of": a picked suggestion's label goes into the title box (the radio carries the id).
  document.addEventListener("change", function (event) {
    var radio = event.target;
    if (!radio.matches || !radio.matches("input[type=radio][name=sequel_of]")) return;
    var box = document.getElementById("id_sequel_of_title");
    if (box && radio.parentElement) box.value = radio.parentElement.textContent.trim();
  });

  document.addEventListener("DOMContentLoaded", function () { scan(document); });
  // htmx swaps a fresh form in after a validation error.
  document.addEventListener("htmx:load", function (event) { scan(event.target); });
})();
