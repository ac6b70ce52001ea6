"""The benchmark's URLconf: Fireline's URLs plus a bare view returning constant JSON (the floor)."""

from django.http import JsonResponse
from django.urls import include, path


def constant_json(request):
    return JsonResponse({"key": "x", "value": True, "reason": "STATIC", "variant": "on", "metadata": {}})


urlpatterns = [path("bench/constant", constant_json), path("", include("config.urls"))]
