from django.urls import path
from django.views.generic import RedirectView

from . import public_reports, status, views
from .exports.views import communication_pdf_view, postmortem_pdf_view, regulator_pdf_view, summary_pdf_view

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("ack/<str:token>/", views.page_ack, name="page-ack"),
    path("contacts/verify/<str:token>/", views.contact_verify, name="contact-verify"),
    path("report/", public_reports.report_form, name="report-form"),
    path("incidents/<int:pk>/postmortem.pdf", postmortem_pdf_view, name="postmortem-pdf"),
    path("incidents/<int:pk>/regulator/<slug:code>.pdf", regulator_pdf_view, name="regulator-pdf"),
    path("incidents/<int:pk>/summary.pdf", summary_pdf_view, name="summary-pdf"),
    path("incidents/<int:pk>/communications/<int:comm_id>.pdf", communication_pdf_view, name="communication-pdf"),
    path("status/", status.status_page, name="status-page"),
    path("status/feed.atom", status.status_feed, name="status-feed"),
    path("report/thanks/", public_reports.report_thanks, name="report-thanks"),
]
