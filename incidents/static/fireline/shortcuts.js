// Keyboard shortcuts for the admin: a link with data-shortcut="d" is followed when "d" is pressed,
// unless the focus is in something that takes typing (a field, a select, an editable area).
(function () {
  "use strict";
  function typing(el) {
    if (!el) return false;
    if (el.isContentEditable) return true;
    var tag = el.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT";
  }
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
    if (typing(event.target) || typing(document.activeElement)) return;
    var key = (event.key || "").toLowerCase();
    if (!key || key.length !== 1) return;
    var link = document.querySelector('a[data-shortcut="' + key + '"]');
    if (!link) return;
    event.preventDefault();
    window.location.assign(link.href);
  });
})();
