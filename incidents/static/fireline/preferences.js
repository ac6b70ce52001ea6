// Each person's screen settings, kept on the server for them:
// - the first admin page a person opens without a time zone sends the browser's zone once;
// - a card (a <details data-card> on the incident page) opened or closed is remembered for them;
// - a link to #card opens that card (blocker links such as "#containment" land on an open card), and a
//   form posted from inside a card comes back to it open.
(function () {
  "use strict";
  var script = document.getElementById("fl-preferences");
  if (!script) return;
  var csrf = script.getAttribute("data-csrf");

  function post(url, fields) {
    var body = new URLSearchParams(fields);
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      keepalive: true,
      headers: { "X-CSRFToken": csrf },
    }).catch(function () { /* a lost preference is not worth an error on an incident page */ });
  }

  var zoneUrl = script.getAttribute("data-zone-url");
  if (zoneUrl) {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    if (zone) post(zoneUrl, { time_zone: zone });
  }

  function cardFor(el) {
    return el && el.closest ? el.closest("details[data-card]") : null;
  }

  function openFromHash() {
    var id = decodeURIComponent((window.location.hash || "").slice(1));
    if (!id) return;
    var target = document.getElementById(id);
    if (!target) return;
    // open every folded section around the target: a card, and a section of the raw form
    for (var el = target; el; el = el.parentElement) {
      if (el.tagName === "DETAILS") el.open = true;
    }
    target.scrollIntoView({ block: "start" });
  }

  // A form posted from inside a card: the page that answers opens that card again, if it has it.
  var RETURN_KEY = "fireline.returnToCard";
  function reopenAfterPost() {
    var id = null;
    try {
      id = window.sessionStorage.getItem(RETURN_KEY);
      window.sessionStorage.removeItem(RETURN_KEY);
    } catch (e) { id = null; }
    var card = id ? document.getElementById(id) : null;
    if (card && card.tagName === "DETAILS") {
      card.open = true;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var cardsUrl = script.getAttribute("data-cards-url");
    document.querySelectorAll("details[data-card]").forEach(function (card) {
      card.addEventListener("toggle", function () {
        post(cardsUrl, { page: card.getAttribute("data-page") || "incident", card: card.getAttribute("data-card"), open: card.open ? "1" : "0" });
      });
      card.querySelectorAll("form").forEach(function (form) {
        form.addEventListener("submit", function () {
          try { window.sessionStorage.setItem(RETURN_KEY, card.id); } catch (e) { /* private mode */ }
        });
      });
    });
    reopenAfterPost();
    openFromHash();
    window.addEventListener("hashchange", openFromHash);
  });
})();
