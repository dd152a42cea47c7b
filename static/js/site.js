// Covers come from MyAnimeList's CDN; when one cannot load, hide the broken image so the
// card's placeholder shows instead. (No inline handlers: the CSP allows only our own scripts.)
(function () {
  "use strict";

  function markBroken(img) {
    img.classList.add("is-broken");
  }

  document.addEventListener(
    "error",
    function (event) {
      var target = event.target;
      if (target && target.tagName === "IMG") {
        markBroken(target);
      }
    },
    true
  );

  function checkImages(root) {
    var images = (root || document).querySelectorAll("img");
    for (var i = 0; i < images.length; i++) {
      var img = images[i];
      if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) {
        markBroken(img);
      }
    }
  }

  // The browse form sends every field; drop the empty ones so the pushed address stays short
  // and readable (?tier=top-tier rather than ?tier=top-tier&type=&year_min=&...).
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || elt.id !== "filters") {
      return;
    }
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (key) {
      if (params[key] === "") {
        delete params[key];
      }
    });
  });

  // htmx checks the form's constraints (e.g. score at most 10) before sending it; when a
  // value fails, show the browser's own message instead of silently doing nothing.
  document.addEventListener("htmx:validation:halted", function (event) {
    var form = event.detail.elt;
    if (form && typeof form.reportValidity === "function") {
      form.reportValidity();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    checkImages(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    checkImages(event.target);
  });
})();
