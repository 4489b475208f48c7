"""The app as uvicorn's worker processes build it (``--workers`` > 1): settings from the
environment (``CITYSHIELD_CONFIG`` and ``CITYSHIELD_*``), built once per worker."""

from __future__ import annotations

from fastapi import FastAPI

from api.app.factory import create_app
from api.composition import build_pki_components, build_store
from api.settings import settings_from
from cityshield.logging import configure_logging


def app_from_environment() -> FastAPI:
    settings = settings_from()
    configure_logging(settings.log_level)
    return create_app(
        settings.api,
        build_store(settings),
        close_on_shutdown=True,
        pki=build_pki_components(settings),
        response=settings.response,
    )
