"""PDF exports: HTML templates rendered by WeasyPrint with a fetcher that reads only our static files."""

from .pdf import PDF_BASE_URL, StaticOnlyURLFetcher, html_to_pdf, postmortem_pdf
from .regulator import NoObligation, regulator_pdf

__all__ = [
    "PDF_BASE_URL",
    "NoObligation",
    "StaticOnlyURLFetcher",
    "html_to_pdf",
    "postmortem_pdf",
    "regulator_pdf",
]
