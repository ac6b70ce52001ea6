from django.urls import path

from .reports import ReportCreateView

urlpatterns = [
    path("reports", ReportCreateView.as_view(), name="api-report-create"),
]
