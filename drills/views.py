"""The drill report download: login, permission and the drill incident's visibility required."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.views.decorators.http import require_GET

from incidents.selectors import incident_is_visible

from .models import Drill
from .report import drill_report_pdf


@require_GET
@login_required
def drill_report_pdf_view(request, pk: int):
    drill = (
        Drill.objects.select_related("scenario", "feature", "incident__feature", "facilitator").filter(pk=pk).first()
    )
    if drill is None or (drill.incident and not incident_is_visible(user=request.user, incident=drill.incident)):
        raise Http404("No such drill.")
    if not request.user.has_perm("drills.view_drill"):
        raise PermissionDenied
    response = HttpResponse(drill_report_pdf(drill), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{drill.reference}-report.pdf"'
    return response
