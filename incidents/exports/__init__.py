"""PDF exports: HTML templates rendered by WeasyPrint with a fetcher that reads only our static files."""

from .pdf import PDF_BASE_URL, StaticOnlyURLFetcher, html_to_pdf, postmortem_pdf

__all__ = ["PDF_BASE_URL", "StaticOnlyURLFetcher", "html_to_pdf", "postmortem_pdf"]
