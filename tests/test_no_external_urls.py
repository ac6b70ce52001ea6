"""Fireline works offline: no page loads a script, stylesheet or image from another host (a CDN), and
the local ones it names exist. /api/docs/ was blank without network while Swagger UI came from a CDN."""

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders

ASSET_ATTRIBUTES = {"script": "src", "link": "href", "img": "src", "iframe": "src", "source": "src"}


class AssetCollector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        wanted = ASSET_ATTRIBUTES.get(tag)
        for name, value in attrs:
            if name == wanted and value:
                self.urls.append(value)


def asset_urls(html: str) -> list[str]:
    collector = AssetCollector()
    collector.feed(html)
    return collector.urls


def assert_self_contained(response):
    assert response.status_code == 200
    urls = asset_urls(response.content.decode())
    external = [
        u for u in urls if urlsplit(u).scheme in ("http", "https", "") and urlsplit(u).netloc not in ("", "testserver")
    ]
    assert external == [], f"loads from another host: {external}"
    for url in urls:
        path = urlsplit(url).path
        if path.startswith(settings.STATIC_URL):
            assert finders.find(path.removeprefix(settings.STATIC_URL)), f"missing static file {path}"
    return urls


@pytest.mark.parametrize("url", ["/api/docs/", "/api/redoc/"])
def test_api_docs_load_their_viewer_from_fireline_itself(client, db, url):
    urls = assert_self_contained(client.get(url))
    # the viewer's JavaScript is on the page, served from Fireline's static files
    assert any(u.startswith(settings.STATIC_URL) and u.endswith(".js") for u in urls), urls


@pytest.mark.parametrize("url", ["/admin/login/", "/status/", "/report/"])
def test_public_pages_load_nothing_from_another_host(client, db, url):
    assert_self_contained(client.get(url))


@pytest.mark.parametrize("url", ["/admin/", "/command/readiness/", "/admin/incidents/incident/"])
def test_signed_in_pages_load_nothing_from_another_host(client, superuser, url):
    client.force_login(superuser)
    assert_self_contained(client.get(url))


def test_the_check_itself_catches_a_cdn():
    html = '<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>'
    assert asset_urls(html) == ["https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"]
    assert urlsplit(asset_urls(html)[0]).netloc == "cdn.jsdelivr.net"
