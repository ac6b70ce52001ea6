"""`export_pdf postmortem ID -o FILE.pdf`: the same PDF as the download link, written to a file."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from incidents.exports import postmortem_pdf
from incidents.models import PostMortem

NOT_YET = {
    "regulator": "Regulator report PDFs are not available yet.",
    "drill": "Drill report PDFs are not available yet.",
}


class Command(BaseCommand):
    help = "Export a PDF: postmortem ID (the incident's id). regulator and drill are not available yet."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["postmortem", "regulator", "drill"])
        parser.add_argument("id", type=int, help="The incident's id.")
        parser.add_argument("-o", "--output", required=True, help="The PDF file to write.")

    def handle(self, *args, kind, id, output, **options):
        if kind in NOT_YET:
            raise CommandError(NOT_YET[kind])
        postmortem = PostMortem.objects.select_related("incident", "approved_by").filter(incident_id=id).first()
        if postmortem is None:
            raise CommandError(f"Incident {id} has no post-mortem.")
        data = postmortem_pdf(postmortem)
        Path(output).write_bytes(data)
        self.stdout.write(f"Wrote {output} ({len(data)} bytes).")
