from django.contrib import admin
from django.urls import path

from . import views

app_name = "preferences"

urlpatterns = [
    path("preferences/", admin.site.admin_view(views.preferences), name="preferences"),
    path("preferences/browser-time-zone", admin.site.admin_view(views.browser_time_zone), name="browser-time-zone"),
    path("preferences/cards", admin.site.admin_view(views.card_state), name="card-state"),
]
