"""The benchmarks' URLconf: Fireline's URLs plus bare views (the floors) that do no Fireline work."""

import hmac
import os
import secrets
from datetime import timedelta

from django.contrib.sessions.models import Session
from django.http import JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView


def constant_json(request):
    return JsonResponse({"key": "x", "value": True, "reason": "STATIC", "variant": "on", "metadata": {}})


@csrf_exempt
def bare_post(request):
    """The floor for a POST: read the body and answer 202 with a little JSON; no token, no database."""
    return JsonResponse({"received": len(request.body)}, status=202)


@csrf_exempt
def ofrep_floor(request, key):
    """The floor for OFREP: the same method, body and bearer-token check, a constant answer; no cache, no database."""
    token = os.environ.get("FIRELINE_BENCH_FLOOR_TOKEN", "")
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if request.method != "POST" or not token or not hmac.compare_digest(header.encode(), f"Bearer {token}".encode()):
        return JsonResponse({"errorCode": "UNAUTHORIZED"}, status=401)
    len(request.body)
    return JsonResponse({"key": key, "value": True, "reason": "STATIC", "variant": "on", "metadata": {"version": 1}})


class OneInsert(APIView):
    """The floor for a write through the API: DRF's JSON parsing and one row inserted; no token, no Fireline."""

    authentication_classes = []
    permission_classes = []

    def post(self, request):
        Session.objects.create(
            session_key=secrets.token_hex(16),
            session_data=str(request.data.get("title", ""))[:200],
            expire_date=timezone.now() + timedelta(hours=1),
        )
        return Response({"created": True}, status=201)


urlpatterns = [
    path("bench/insert", OneInsert.as_view()),
    path("bench/ofrep/<str:key>", ofrep_floor),
    path("bench/constant", constant_json),
    path("bench/post", bare_post),
    path("", include("config.urls")),
]
