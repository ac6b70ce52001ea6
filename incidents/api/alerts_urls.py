from django.urls import path

from .alerts import AlertmanagerIntakeView, GenericIntakeView, GrafanaIntakeView, intake_view

urlpatterns = [
    path("alerts/alertmanager", intake_view(AlertmanagerIntakeView), name="api-alerts-alertmanager"),
    path("alerts/grafana", intake_view(GrafanaIntakeView), name="api-alerts-grafana"),
    path("alerts/generic", intake_view(GenericIntakeView), name="api-alerts-generic"),
]
