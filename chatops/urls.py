from django.urls import path

from . import views

urlpatterns = [
    path("slack/commands", views.slack_commands, name="chat-slack-commands"),
    path("slack/interactions", views.slack_interactions, name="chat-slack-interactions"),
    path("slack/events", views.slack_events, name="chat-slack-events"),
]
