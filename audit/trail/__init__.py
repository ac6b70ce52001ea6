"""The AI audit trail: what the AI product decided, request by request, kept for investigations.

It sits beside incidents and may import them; incidents and the action log (audit.models, audit.services,
audit.signals, audit.checkpoints) never import it. pyproject.toml [tool.importlinter] holds the rule.
"""
