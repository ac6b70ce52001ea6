"""Sign-in through the provider: start (with state, nonce and PKCE), callback, and the pages that explain a refusal."""

import functools
import logging
from urllib.parse import urlencode

import requests
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from sso.discovery import DiscoveryError, provider_metadata, sso_enabled
from sso.services import SignInRefused

logger = logging.getLogger(__name__)


def _page(request, *, title: str, message: str, status: int, extra: dict | None = None):
    context = {
        **admin.site.each_context(request),
        "title": title,
        "message": message,
        "provider_name": settings.OIDC_PROVIDER_NAME,
        **(extra or {}),
    }
    return TemplateResponse(request, "sso/message.html", context, status=status)


def _unavailable(request, error: Exception):
    logger.warning("Single sign-on unavailable: %s", error)
    return _page(
        request,
        title="Single sign-on is unavailable",
        message=(
            f"Fireline could not reach {settings.OIDC_PROVIDER_NAME} ({error}). "
            "Try again in a moment; if it persists, tell whoever runs Fireline."
        ),
        status=503,
    )


class ProviderLoginView(OIDCAuthenticationRequestView):
    """Send the browser to the provider's authorization endpoint (code flow, state, nonce, PKCE S256)."""

    def __init__(self, *args, **kwargs):
        View.__init__(self, *args, **kwargs)  # the endpoint comes from discovery, at request time

    def get(self, request):
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = provider_metadata()["authorization_endpoint"]
        except DiscoveryError as error:
            return _unavailable(request, error)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        return super().get(request)


class ProviderCallbackView(OIDCAuthenticationCallbackView):
    """The provider's answer: state, nonce, PKCE and the ID token are checked before anyone is signed in."""

    def get(self, request):
        if not sso_enabled():
            raise Http404("Single sign-on is not configured.")
        try:
            return super().get(request)
        except SignInRefused as refusal:
            logger.info("Single sign-on refused: %s", refusal)
            return _page(request, title="Sign-in refused", message=str(refusal), status=403)
        except SuspiciousOperation as error:
            logger.warning("Single sign-on answer rejected: %s", error)
            return _page(
                request,
                title="Sign-in could not be verified",
                message=(
                    f"The answer from {settings.OIDC_PROVIDER_NAME} did not pass Fireline's checks, so nobody was "
                    "signed in. Start again from the login page."
                ),
                status=400,
            )
        except DiscoveryError as error:
            return _unavailable(request, error)
        except requests.RequestException as error:
            # The token endpoint's refusal (a wrong code or PKCE verifier) lands here too; its body is not logged.
            return _unavailable(request, type(error).__name__)

    def login_success(self):
        if not self.user.is_staff:
            self.request.session["sso_no_access"] = {"username": self.user.get_username()}
            return redirect("sso:no-access")
        return super().login_success()

    def login_failure(self):
        reason = self.request.GET.get("error_description") or self.request.GET.get("error")
        return _page(
            self.request,
            title="Sign-in did not complete",
            message=(
                f"Signing in with {settings.OIDC_PROVIDER_NAME} did not complete"
                + (f" ({reason[:200]})" if reason else "")
                + ". Start again from the login page."
            ),
            status=400,
        )


def no_access(request):
    """A person the provider knows, whose groups give them no role in Fireline."""
    details = request.session.get("sso_no_access")
    if not details:
        return redirect("admin:login")
    return _page(
        request,
        title="No access to Fireline",
        message=(
            f"You signed in with {settings.OIDC_PROVIDER_NAME} as {details['username']}, but none of your groups "
            "there gives you a role in Fireline, so you have no access. Ask a Fireline administrator to map one "
            "of your groups to a role, then sign in again."
        ),
        status=403,
    )


def provider_logout_url(request) -> str | None:
    """The provider's end-session URL for this session (RP-initiated logout), when it offers one."""
    id_token = request.session.get("oidc_id_token")
    if not id_token or not sso_enabled():
        return None
    try:
        end_session = provider_metadata().get("end_session_endpoint")
    except DiscoveryError:
        return None
    if not end_session:
        return None
    query = urlencode(
        {
            "id_token_hint": id_token,
            "client_id": settings.OIDC_RP_CLIENT_ID,
            "post_logout_redirect_uri": request.build_absolute_uri(reverse("admin:login")),
        }
    )
    return f"{end_session}{'&' if '?' in end_session else '?'}{query}"


def logout_with_provider(admin_logout):
    """The admin's logout, then on to the provider's end-session endpoint for a session it signed in."""

    @functools.wraps(admin_logout)
    def logout(request, extra_context=None):
        end_session = provider_logout_url(request) if request.method == "POST" else None
        response = admin_logout(request, extra_context)
        if end_session and response.status_code < 400:
            return HttpResponseRedirect(end_session)
        return response

    return logout
