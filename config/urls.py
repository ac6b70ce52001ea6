from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from command import views as command_views
from incidents import ofrep

admin.site.site_header = "Fireline"
admin.site.site_title = "Fireline"
admin.site.index_title = "Incident response for AI features"

urlpatterns = [
    # The admin index is the command centre; everything else under /admin/ is the admin itself.
    path("admin/", admin.site.admin_view(command_views.command_centre), name="command-centre"),
    path("admin/", admin.site.urls),
    path("", include("command.urls")),
    path("", include("preferences.urls")),
    path("api/v1/", include("incidents.api.urls")),
    path("ofrep/v1/evaluate/flags/<str:key>", ofrep.evaluate_flag, name="ofrep-evaluate-flag"),
    path("ofrep/v1/evaluate/flags", ofrep.evaluate_flags, name="ofrep-evaluate-flags"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="api-schema", template_name="drf_spectacular/redoc_offline.html"),
        name="api-redoc",
    ),
    path("drills/", include("drills.urls")),
    path("oncall/", include("oncall.urls")),
    path("oidc/", include("sso.urls")),  # the design's public name for sign-in through the provider
    path("chat/", include("chatops.urls")),  # Slack's request URLs: /chat/slack/commands, interactions, events
    path("", include("audit.urls")),
    path("", include("incidents.urls")),
]
