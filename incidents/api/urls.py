from django.urls import include, path

from . import views

urlpatterns = [
    path("incidents", views.IncidentListView.as_view(), name="api-incident-list"),
    path("incidents/<int:pk>", views.IncidentDetailView.as_view(), name="api-incident-detail"),
    path("", include("incidents.api.alerts_urls")),
    path("", include("incidents.api.reports_urls")),
    path("", include("incidents.api.evals_urls")),
    path("", include("audit.api_urls")),
]
