"""The benchmarks' URLconf: Fireline's URLs plus bare views (the floors) that do no Fireline work."""

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


def constant_json(request):
    return JsonResponse({"key": "x", "value": True, "reason": "STATIC", "variant": "on", "metadata": {}})


@csrf_exempt
def bare_post(request):
    """The floor for a POST: read the body and answer 202 with a little JSON; no token, no database."""
    return JsonResponse({"received": len(request.body)}, status=202)


urlpatterns = [
    path("bench/constant", constant_json),
    path("bench/post", bare_post),
    path("", include("config.urls")),
]
