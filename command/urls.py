from django.contrib import admin
from django.urls import path

from . import views

app_name = "command"

urlpatterns = [
    path("command/readiness/", admin.site.admin_view(views.readiness), name="readiness"),
    path("command/readiness.pdf", admin.site.admin_view(views.readiness_pdf), name="readiness-pdf"),
    path("command/metrics/", admin.site.admin_view(views.metrics), name="metrics"),
    path("command/metrics.csv", admin.site.admin_view(views.metrics_csv), name="metrics-csv"),
]
