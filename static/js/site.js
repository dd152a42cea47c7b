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

  document.addEventListener("DOMContentLoaded", function () {
    checkImages(document);
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    checkImages(event.target);
  });
})();
