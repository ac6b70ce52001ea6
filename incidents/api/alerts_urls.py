from django.urls import path

from .alerts import AlertmanagerIntakeView, GenericIntakeView, GrafanaIntakeView

urlpatterns = [
    path("alerts/alertmanager", AlertmanagerIntakeView.as_view(), name="api-alerts-alertmanager"),
    path("alerts/grafana", GrafanaIntakeView.as_view(), name="api-alerts-grafana"),
    path("alerts/generic", GenericIntakeView.as_view(), name="api-alerts-generic"),
]
