"""MLflow's process-wide URIs, pointed at one store for the length of a call and restored afterwards.

MLflow's fluent API (runs, ``log_model``, ``load_model``, artifact downloads)
reads the tracking and registry URIs from module globals, mirrored into the
environment. ``pointed_at`` sets both for one store and puts everything back
after, so two stores used in one process never mix (not thread-safe: MLflow's
URIs are global).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow.tracking import _tracking_service
from mlflow.tracking._model_registry import utils as _registry_service

_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
# A logged model must not depend on the working directory: without this, MLflow copies the uv.lock and
# pyproject.toml of whatever project the process was started in into the model (requirements are pinned).
_SCOPED_ENV = {"MLFLOW_UV_AUTO_DETECT": "false"}


@contextmanager
def pointed_at(uri: str) -> Iterator[None]:
    """Point MLflow's fluent API (runs, log_model, load_model) at ``uri``; restore everything after."""
    saved_env = {name: os.environ.get(name) for name in (*_URI_VARIABLES, *_SCOPED_ENV)}
    # MLflow keeps the URIs in module globals (and mirrors them into the environment); save both.
    saved_tracking = _tracking_service.utils._tracking_uri
    saved_registry = _registry_service._registry_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    os.environ.update(_SCOPED_ENV)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_tracking)  # type: ignore[arg-type]  # None unsets it again
        _registry_service._registry_uri = saved_registry
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
