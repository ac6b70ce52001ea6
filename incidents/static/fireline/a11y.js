// Accessibility repairs to the Django admin's own widgets, run once they have been built.
// The members picker's search icon is a span named by aria-label, which a span without a role may not
// carry: it is an image of a magnifier, so it says so.
window.addEventListener("load", () => {
  for (const icon of document.querySelectorAll(".help-tooltip[aria-label]:not([role])")) {
    icon.setAttribute("role", "img");
  }
});
