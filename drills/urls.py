from django.urls import path

from . import views

urlpatterns = [
    path("<int:pk>/report.pdf", views.drill_report_pdf_view, name="drill-report-pdf"),
]
