from django.urls import path

from sso import views

app_name = "sso"

urlpatterns = [
    path("login/", views.ProviderLoginView.as_view(), name="login"),
    path("callback/", views.ProviderCallbackView.as_view(), name="callback"),
    path("no-access/", views.no_access, name="no-access"),
]
