"""Investigation downloads: the replay export of an incident's evidence."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, JsonResponse
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET

from incidents.models import Incident
from incidents.selectors import incident_get

from .investigation import evidence_list, evidence_replay_export


@require_GET
@login_required(login_url=reverse_lazy("admin:login"))
def incident_replay(request, pk: int):
    """Every evidence record of an incident as one JSON file for the team's replay harness.

    An incident the user cannot see does not exist for them (404); seeing it without the right to
    read its evidence is a 403.
    """
    try:
        incident = incident_get(user=request.user, pk=pk)
    except Incident.DoesNotExist as exc:
        raise Http404("No such incident.") from exc
    if not request.user.has_perm("audit.view_evidence"):
        raise PermissionDenied("You may not read evidence.")
    payload = evidence_replay_export(incident=incident, evidence=evidence_list(user=request.user, incident=incident))
    response = JsonResponse(payload, encoder=DjangoJSONEncoder, json_dumps_params={"indent": 2, "ensure_ascii": False})
    response["Content-Disposition"] = f'attachment; filename="{incident.reference}-replay.json"'
    # Evidence may hold personal data: no shared cache keeps a copy.
    response["Cache-Control"] = "private, no-store"
    return response
