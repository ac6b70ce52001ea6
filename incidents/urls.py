from django.urls import path
from django.views.generic import RedirectView

from . import public_reports, views

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("ack/<str:token>/", views.page_ack, name="page-ack"),
    path("contacts/verify/<str:token>/", views.contact_verify, name="contact-verify"),
    path("report/", public_reports.report_form, name="report-form"),
    path("report/thanks/", public_reports.report_thanks, name="report-thanks"),
]
