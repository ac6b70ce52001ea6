"""Thin tasks: call a service, return what happened. Safe to run twice."""

from celery import shared_task

from config.celery import FirelineTask

from .monitors import quality_monitors_check


@shared_task(base=FirelineTask)
def check_quality_monitors() -> dict:
    """Every minute (beat): each enabled quality monitor against its threshold."""
    return quality_monitors_check()
