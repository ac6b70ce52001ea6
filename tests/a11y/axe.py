"""axe-core in a Playwright page: WCAG 2.1 A and AA rules, violations as a list a person can read.

axe-core comes from the npm registry, pinned in tests/a11y/package.json and its lock file, and is
installed into tests/a11y/node_modules by `make test` where npm exists (`npm ci --prefix tests/a11y`).
"""

from __future__ import annotations

from pathlib import Path

AXE_JS = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

RUN = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
  return result.violations.map(v => ({
    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map(n => ({target: n.target.map(String).join(' '), summary: n.failureSummary || ''})),
  }));
}"""


# axe accepts a placeholder or a title as an input's name; a placeholder disappears as soon as someone
# types, so Fireline asks for a label (visible, or aria-label where the context shows what it is).
PLACEHOLDER_ONLY = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => !['hidden', 'submit', 'button', 'reset', 'image'].includes(el.type))
  .filter(el => el.getClientRects().length > 0)
  .filter(el => !(el.labels && el.labels.length))
  .filter(el => !el.getAttribute('aria-label') && !el.getAttribute('aria-labelledby'))
  .map(el => ({target: el.id ? '#' + el.id : `${el.tagName.toLowerCase()}[name="${el.name}"]`,
               summary: `named only by ${el.placeholder ? 'its placeholder "' + el.placeholder + '"' : 'nothing'}`}))"""


def axe_violations(page, source: str) -> list[dict]:
    """Inject axe-core into the loaded page and run the WCAG 2.1 A/AA rules on the whole document,
    plus Fireline's own rule that every visible input has a label, not just a placeholder."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=source)
    violations = page.evaluate(RUN, WCAG_21_AA)
    unlabelled = page.evaluate(PLACEHOLDER_ONLY)
    if unlabelled:
        violations.append(
            {
                "id": "fireline-label-not-placeholder",
                "impact": "serious",
                "help": "Inputs must have a label or an accessible name, not only a placeholder",
                "helpUrl": "",
                "nodes": unlabelled,
            }
        )
    return violations


def describe(where: str, violations: list[dict], *, nodes_per_rule: int = 6) -> str:
    """One block per rule: id, impact, help text and the first few elements it found."""
    lines = []
    for violation in violations:
        lines.append(
            f"{where}: {violation['id']} ({violation['impact']}, {len(violation['nodes'])} element(s)): "
            f"{violation['help']}"
        )
        for node in violation["nodes"][:nodes_per_rule]:
            summary = " ".join(node["summary"].split())[:220]
            lines.append(f"    {node['target']}  -- {summary}")
        if len(violation["nodes"]) > nodes_per_rule:
            lines.append(f"    ... and {len(violation['nodes']) - nodes_per_rule} more")
    return "\n".join(lines)
