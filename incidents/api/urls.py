from django.urls import include, path

from . import views

urlpatterns = [
    path("incidents", views.IncidentListView.as_view(), name="api-incident-list"),
    # Any text: an id that is not a number is a JSON 404 from the view, not the HTML page of the resolver.
    path("incidents/<str:pk>", views.IncidentDetailView.as_view(), name="api-incident-detail"),
    path("incidents/<str:pk>/transitions", views.IncidentTransitionListView.as_view(), name="api-incident-transitions"),
    path(
        "incidents/<str:pk>/transitions/<str:name>",
        views.IncidentTransitionView.as_view(),
        name="api-incident-transition",
    ),
    path("incidents/<str:pk>/notes", views.IncidentNoteView.as_view(), name="api-incident-notes"),
    path("incidents/<str:pk>/containment", views.IncidentContainmentView.as_view(), name="api-incident-containment"),
    path(
        "incidents/<str:pk>/containment/<str:action_id>/lift",
        views.IncidentContainmentLiftView.as_view(),
        name="api-incident-containment-lift",
    ),
    path(
        "incidents/<str:pk>/pages/<str:page_id>/acknowledge",
        views.IncidentPageAckView.as_view(),
        name="api-incident-page-ack",
    ),
    path("", include("incidents.api.alerts_urls")),
    path("", include("incidents.api.reports_urls")),
    path("", include("incidents.api.evals_urls")),
    path("", include("audit.api_urls")),
]
