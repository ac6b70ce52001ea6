"""PDF exports: HTML templates rendered by WeasyPrint with a fetcher that reads only our static files.

What each audience may read is one rule, in `audience`; a published post-mortem prints its frozen
snapshot (`snapshot`).
"""

from .audience import UnknownVariant, Variant, parse_variant
from .communication import NotExportable, communication_pdf
from .pdf import PDF_BASE_URL, NoSuchRevision, StaticOnlyURLFetcher, html_to_pdf, postmortem_pdf
from .regulator import NoObligation, regulator_pdf
from .summary import summary_pdf

__all__ = [
    "PDF_BASE_URL",
    "NoObligation",
    "NoSuchRevision",
    "NotExportable",
    "StaticOnlyURLFetcher",
    "UnknownVariant",
    "Variant",
    "communication_pdf",
    "html_to_pdf",
    "parse_variant",
    "postmortem_pdf",
    "regulator_pdf",
    "summary_pdf",
]
