import pytest

from sso.discovery import forget_provider_metadata

from .provider import CLIENT_ID, CLIENT_SECRET, start_provider


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory):
    """oidc-provider on a free port, for the Django test client (http://testserver)."""
    provider = start_provider(
        tmp_dir=tmp_path_factory.mktemp("oidc"),
        redirect_uris=["http://testserver/oidc/callback/"],
        post_logout_redirect_uris=["http://testserver/admin/login/"],
    )
    yield provider
    provider.stop()


def configure(settings, issuer: str) -> None:
    settings.OIDC_ISSUER = issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_RP_SCOPES = "openid email profile groups"
    settings.OIDC_PROVIDER_NAME = "Example ID"
    forget_provider_metadata()


@pytest.fixture
def sso(db, settings, oidc_provider):
    """Fireline configured for the test provider, as the environment would configure it."""
    configure(settings, oidc_provider.issuer)
    oidc_provider.reset()
    yield oidc_provider
    forget_provider_metadata()
