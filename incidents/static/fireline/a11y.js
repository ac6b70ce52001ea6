// Accessibility repairs to widgets the Django admin builds in the browser, applied whenever they appear
// (select2 starts on jQuery's ready, which may come after the page's load event).
(function () {
  "use strict";

  // The members picker's search icon is a span named by aria-label, which a span without a role may
  // not carry: it is an image of a magnifier, so it says so.
  function nameIcons() {
    for (const icon of document.querySelectorAll(".help-tooltip[aria-label]:not([role])")) {
      icon.setAttribute("role", "img");
    }
  }

  // An autocomplete (select2) names its combobox after the selected text only, so an empty one has no
  // name at all: name it after the field's label, then the choice ("Feature: Support assistant").
  function nameAutocompletes() {
    for (const select of document.querySelectorAll("select.admin-autocomplete:not([data-fl-named])")) {
      const label = select.id && document.querySelector(`label[for="${select.id}"]`);
      const widget = select.nextElementSibling;
      if (!label || !widget || !widget.classList.contains("select2")) continue;
      if (!label.id) label.id = `${select.id}-label`;
      const rendered = widget.querySelector(".select2-selection__rendered");
      const combobox = widget.querySelector(".select2-selection");
      if (rendered) rendered.setAttribute("aria-labelledby", label.id);
      if (combobox) combobox.setAttribute("aria-labelledby", rendered ? `${label.id} ${rendered.id}` : label.id);
      select.setAttribute("data-fl-named", "");
    }
  }

  function repair() {
    nameIcons();
    nameAutocompletes();
  }
  // A mutation observer runs once per batch of changes, right after the script that made them.
  document.addEventListener("DOMContentLoaded", () => {
    repair();
    new MutationObserver(repair).observe(document.body, { childList: true, subtree: true });
  });
  window.addEventListener("load", repair);
})();
