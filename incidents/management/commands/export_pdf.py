"""`export_pdf postmortem|regulator ID -o FILE.pdf [--regime CODE]`: the same PDFs as the download links."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from incidents.exports import NoObligation, postmortem_pdf, regulator_pdf
from incidents.models import Incident, PostMortem, Regime

NOT_YET = {
    "drill": "Drill report PDFs are not available yet.",
}


class Command(BaseCommand):
    help = (
        "Export a PDF: postmortem ID, or regulator ID --regime CODE (ID is the incident's id). "
        "drill is not available yet."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["postmortem", "regulator", "drill"])
        parser.add_argument("id", type=int, help="The incident's id.")
        parser.add_argument("-o", "--output", required=True, help="The PDF file to write.")
        parser.add_argument("--regime", help="regulator: the regime's code, e.g. gdpr-33.")

    def handle(self, *args, kind, id, output, regime=None, **options):
        if kind in NOT_YET:
            raise CommandError(NOT_YET[kind])
        data = self.regulator(id, regime) if kind == "regulator" else self.postmortem(id)
        Path(output).write_bytes(data)
        self.stdout.write(f"Wrote {output} ({len(data)} bytes).")

    def postmortem(self, id: int) -> bytes:
        postmortem = PostMortem.objects.select_related("incident", "approved_by").filter(incident_id=id).first()
        if postmortem is None:
            raise CommandError(f"Incident {id} has no post-mortem.")
        return postmortem_pdf(postmortem)

    def regulator(self, id: int, code: str | None) -> bytes:
        if not code:
            raise CommandError("Give the regime with --regime CODE (e.g. gdpr-33).")
        incident = Incident.objects.select_related("feature").filter(pk=id).first()
        if incident is None:
            raise CommandError(f"No incident {id}.")
        regime = Regime.objects.filter(code=code).first()
        if regime is None:
            raise CommandError(f"No regime {code!r}.")
        try:
            return regulator_pdf(incident, regime)
        except NoObligation as exc:
            raise CommandError(str(exc)) from None
