from django.urls import path

from . import views

app_name = "oncall"

urlpatterns = [
    path("calendar/<str:token>/shifts.ics", views.user_calendar, name="user-ics"),
    path("calendar/<str:token>/schedules/<int:schedule_id>.ics", views.schedule_calendar, name="schedule-ics"),
]
