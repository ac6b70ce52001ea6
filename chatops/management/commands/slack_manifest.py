"""Print the Slack app manifest for this Fireline (paste it at api.slack.com/apps, "From a manifest")."""

import json

from django.conf import settings
from django.core.management.base import BaseCommand


def slack_manifest(base_url: str, name: str = "Fireline") -> dict:
    base = base_url.rstrip("/")
    return {
        "display_information": {"name": name, "description": "Incident response for AI features"},
        "features": {
            "bot_user": {"display_name": name.lower(), "always_online": True},
            "slash_commands": [
                {
                    "command": "/incident",
                    "url": f"{base}/chat/slack/commands",
                    "description": "Declare and run incidents from chat",
                    "usage_hint": "declare|status|ack|contain|lift|note|page|next|assign|help",
                    "should_escape": True,
                }
            ],
        },
        "oauth_config": {
            "scopes": {
                "bot": [
                    "commands",
                    "channels:manage",
                    "groups:write",
                    "channels:history",
                    "groups:history",
                    "chat:write",
                    "pins:write",
                    "reactions:read",
                    "users:read",
                    "users:read.email",
                ]
            }
        },
        "settings": {
            "event_subscriptions": {"request_url": f"{base}/chat/slack/events", "bot_events": ["reaction_added"]},
            "interactivity": {"is_enabled": True, "request_url": f"{base}/chat/slack/interactions"},
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": False,
        },
    }


class Command(BaseCommand):
    help = "Print the Slack app manifest (JSON) with request URLs on FIRELINE_BASE_URL."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default=None, help="Default: FIRELINE_BASE_URL.")
        parser.add_argument("--name", default="Fireline")

    def handle(self, *args, **options):
        base_url = options["base_url"] or settings.FIRELINE_BASE_URL
        self.stdout.write(json.dumps(slack_manifest(base_url, options["name"]), indent=2))
