from django.urls import path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("ack/<str:token>/", views.page_ack, name="page-ack"),
    path("contacts/verify/<str:token>/", views.contact_verify, name="contact-verify"),
]
