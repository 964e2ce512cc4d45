"""The services a workspace's settings point at, built in one place: the layers below receive them ready-made.

Lower layers never see the settings object: the model registry gets its URIs and audit log, the publication its
catalog of folders, the outcomes store its URL. This module turns the settings into those objects.
"""

from __future__ import annotations

from contextlib import suppress

from fastapi import FastAPI

from models.champions import Champions, version_numbers
from models.tracking import Tracker
from pipelines.settings import Settings
from serving.api import create_app
from serving.config import DeskConfig


def open_tracker(settings: Settings) -> Tracker:
    """The MLflow tracker of a workspace (SQLite and artifacts inside it on embedded defaults)."""
    return Tracker(settings.mlflow_tracking_uri, settings.mlflow_artifact_root, settings.registry_audit_log)


def desk_config(settings: Settings) -> DeskConfig:
    """What the API, the rep page and the live plan need of the settings, as the serving layer's own values."""
    return DeskConfig(
        catalog=settings.catalog,
        outcomes_url=settings.outcomes_database_url,
        time_zone=settings.nightly.time_zone,
        offers=settings.save.offers,
        guardrails=settings.save.guardrails,
        requests_per_minute=settings.serving.requests_per_minute,
        max_body_bytes=settings.serving.max_body_bytes,
        secure_cookies=settings.serving.secure_cookies,
        clean=settings.clean_dir,
    )


def desk_app(settings: Settings, *, warm: str = "book") -> FastAPI:
    """The API and the rep page over a workspace (``serving.api``), planning with the models its lists name.

    The live plan starts with the versions the latest publication names and loads, by number, those each new
    publication names (``Tracker.load_versions``): a promotion reaches the desk with the next night's lists.

    Raises:
        LookupError: A model has no champion and nothing published names one (run ``savedesk train``).
    """
    tracker = open_tracker(settings)
    return create_app(desk_config(settings), first_models(settings, tracker), warm=warm,
                      load_versions=tracker.load_versions)  # fmt: skip


def first_models(settings: Settings, tracker: Tracker) -> Champions:
    """The versions the latest publication names, else the registry's champions (nothing published, or not loadable).

    When the named versions cannot be loaded, the live plan says so once it reads the publication.
    """
    catalog = settings.catalog
    day = catalog.latest()
    with suppress(LookupError, OSError, ValueError):  # the live plan says why once it reads the publication
        named = version_numbers(catalog.manifest(day).get("models")) if day is not None else None
        if named is not None:
            return tracker.load_versions(named)
    return tracker.load_champions()
