"""The AI audit trail: what the AI product decided, request by request, kept for investigations.

It sits beside incidents and may import them; incidents' services, selectors and models, and the action
log (audit.models, audit.services, audit.signals, audit.checkpoints), never import it. Only the entry
points above both (the incident admin page, the API) use it. pyproject.toml [tool.importlinter] holds the
rule and `make test` checks it.
"""
