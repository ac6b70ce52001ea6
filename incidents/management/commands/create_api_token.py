from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from incidents.constants import ApiScope
from incidents.services import api_token_create


class Command(BaseCommand):
    help = "Create an API token. The token is printed once, on the last line; only its hash is kept."

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="What uses the token, e.g. alertmanager-prod")
        parser.add_argument("--scopes", required=True, help=f"Comma-separated: {','.join(ApiScope.values)}")
        parser.add_argument(
            "--user",
            help="Username whose visibility the token gets (default: none, so restricted incidents stay hidden)",
        )

    def handle(self, *args, name, scopes, user=None, **options):
        owner = None
        if user:
            owner = get_user_model().objects.filter(username=user).first()
            if owner is None:
                raise CommandError(f"--user: no user named {user!r}.")
        try:
            token, raw = api_token_create(name=name, scopes=scopes.split(","), user=owner)
        except ValidationError as exc:
            raise CommandError(" ".join(f"--{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
        self.stdout.write(
            f"Created token {token.name!r} with scopes {', '.join(token.scopes)}. Store it now: it is not shown again."
        )
        self.stdout.write(raw)
