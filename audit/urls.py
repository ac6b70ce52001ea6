from django.urls import path

from .trail import views

urlpatterns = [
    path("incidents/<int:pk>/replay.json", views.incident_replay, name="audit-incident-replay"),
]
