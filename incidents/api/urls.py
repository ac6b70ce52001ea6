from django.urls import include, path

from . import document_views, views

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
    path(
        "incidents/<str:pk>/communications",
        document_views.IncidentCommunicationsView.as_view(),
        name="api-incident-communications",
    ),
    path(
        "incidents/<str:pk>/communications/<str:comm_id>",
        document_views.CommunicationView.as_view(),
        name="api-communication",
    ),
    path(
        "incidents/<str:pk>/communications/<str:comm_id>/actions/<str:action>",
        document_views.CommunicationActionView.as_view(),
        name="api-communication-action",
    ),
    path("incidents/<str:pk>/postmortem", document_views.PostMortemView.as_view(), name="api-postmortem"),
    path(
        "incidents/<str:pk>/postmortem/actions/<str:action>",
        document_views.PostMortemActionView.as_view(),
        name="api-postmortem-action",
    ),
    path("incidents/<str:pk>/findings", document_views.IncidentFindingsView.as_view(), name="api-incident-findings"),
    path("incidents/<str:pk>/evidence", document_views.IncidentEvidenceView.as_view(), name="api-incident-evidence"),
    path(
        "incidents/<str:pk>/action-items", document_views.IncidentActionItemsView.as_view(), name="api-incident-items"
    ),
    path(
        "incidents/<str:pk>/action-items/<str:item_id>/actions/<str:action>",
        document_views.ActionItemActionView.as_view(),
        name="api-action-item-action",
    ),
    path(
        "incidents/<str:pk>/reportability-decisions",
        document_views.IncidentDecisionsView.as_view(),
        name="api-incident-decisions",
    ),
    path(
        "incidents/<str:pk>/obligations/<str:obligation_id>/submission",
        document_views.ObligationSubmitView.as_view(),
        name="api-obligation-submit",
    ),
    path("", include("incidents.api.alerts_urls")),
    path("", include("incidents.api.reports_urls")),
    path("", include("incidents.api.evals_urls")),
    path("", include("audit.api_urls")),
]
