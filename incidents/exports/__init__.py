"""PDF exports: HTML templates rendered by WeasyPrint with a fetcher that reads only our static files."""

from .audience import UnknownVariant, Variant, parse_variant
from .communication import NotExportable, communication_pdf
from .pdf import PDF_BASE_URL, StaticOnlyURLFetcher, html_to_pdf, postmortem_pdf
from .regulator import NoObligation, regulator_pdf
from .summary import summary_pdf

__all__ = [
    "PDF_BASE_URL",
    "NoObligation",
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
