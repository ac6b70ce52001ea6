from django.urls import path

from . import views

urlpatterns = [
    path("incidents", views.IncidentListView.as_view(), name="api-incident-list"),
    path("incidents/<int:pk>", views.IncidentDetailView.as_view(), name="api-incident-detail"),
]
