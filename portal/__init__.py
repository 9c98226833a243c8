"""Terrace portal: settings, URLs, ASGI app and the Celery app instance."""
from portal.celery import app as celery_app

__all__ = ["celery_app"]
