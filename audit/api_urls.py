from django.urls import path

from .trail.api import AuditRecordIngestView

urlpatterns = [
    path("audit/records", AuditRecordIngestView.as_view(), name="api-audit-records"),
]
