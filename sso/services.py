"""What a sign-in through the provider changes in Fireline: the user, their identity, their roles."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from audit import services as audit
from sso.models import ProviderIdentity

logger = logging.getLogger(__name__)


class SignInRefused(Exception):
    """The provider vouched for the person, but Fireline will not sign them in; the message says why."""


def claimed_groups(claims: dict) -> list[str]:
    value = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(value, str):
        value = [value]
    return sorted({str(name) for name in value if name})


def _field(user_model, name: str, value) -> str:
    return str(value or "")[: user_model._meta.get_field(name).max_length]


@transaction.atomic
def user_sign_in_from_claims(*, issuer: str, claims: dict):
    """Create or update the user the claims describe and give them exactly the roles their groups map to.

    The person is found by issuer and subject; the username claim names a new account, or links an
    existing local one the first time. A superuser is never signed in this way: break-glass accounts
    must not depend on the provider (nor be reachable by whoever can set a name there). Roles are the
    provider's to give: every group the claim does not map to is removed, and without any mapped group
    the user has no staff access.
    """
    user_model = get_user_model()
    subject = str(claims.get("sub") or "")
    username = _field(user_model, "username", claims.get(settings.OIDC_USERNAME_CLAIM))
    if not subject or not username:
        raise SignInRefused(
            f"The provider sent no '{settings.OIDC_USERNAME_CLAIM}' claim, which Fireline takes the username from."
        )

    identity = ProviderIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
    if identity is not None:
        user = user_model.objects.select_for_update().get(pk=identity.user_id)
    else:
        user = user_model.objects.select_for_update().filter(username=username).first()
        if user is not None and ProviderIdentity.objects.filter(user=user).exists():
            raise SignInRefused(f"The Fireline account '{username}' belongs to another person at the provider.")
        if user is None:
            user = user_model(username=username)
            user.set_unusable_password()
    if user.is_superuser:
        raise SignInRefused(
            f"'{username}' is a break-glass administrator account: it signs in with its password, not the provider."
        )

    if user.username != username and not user_model.objects.filter(username=username).exclude(pk=user.pk).exists():
        user.username = username
    user.email = _field(user_model, "email", claims.get("email"))
    user.first_name = _field(user_model, "first_name", claims.get("given_name"))
    user.last_name = _field(user_model, "last_name", claims.get("family_name"))

    groups = claimed_groups(claims)
    roles = list(Group.objects.filter(provider_mappings__provider_group__in=groups).distinct())
    is_new = user.pk is None
    before = {"roles": [] if is_new else sorted(user.groups.values_list("name", flat=True)), "is_staff": user.is_staff}
    user.is_staff = bool(roles)
    user.save()
    user.groups.set(roles)
    after = {"roles": sorted(r.name for r in roles), "is_staff": user.is_staff}
    # the action log says what the provider made of whom: a new account, and every change of roles
    if is_new:
        audit.log_created(actor=None, target=user, values={"username": user.username, "via": "single sign-on", **after})
    else:
        audit.log_changed(actor=None, target=user, before=before, after=after)
    ProviderIdentity.objects.update_or_create(
        issuer=issuer, subject=subject, defaults={"user": user, "last_login_groups": groups}
    )
    logger.info("Single sign-on for user %s: %d role(s)", user.pk, len(roles))
    return user
