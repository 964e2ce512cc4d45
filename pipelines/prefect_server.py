"""Which Prefect server savedesk talks to, and whether it is up.

Prefect reads its API URL from the environment (``PREFECT_API_URL``, which
``SAVEDESK_PREFECT__API_URL`` feeds through ``prefect_environment``) or from the
active profile under ``PREFECT_HOME``; asking Prefect's own settings covers all
three. Import this only after ``prefect_environment`` is in ``os.environ``.
"""

from __future__ import annotations

import httpx
from prefect.settings import get_current_settings


def api_url() -> str | None:
    """The API URL Prefect would use, or None when it would start a temporary server."""
    return get_current_settings().api.url or None


def server_answers(url: str, timeout_seconds: float = 5.0) -> bool:
    """Whether a Prefect server answers its health check at ``url`` (``.../api``)."""
    try:
        response = httpx.get(f"{url.rstrip('/')}/health", timeout=timeout_seconds)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def load_server_modules() -> None:
    """Import the modules Prefect's client loads on first use, now, before a flow runs.

    CPython 3.11 before 3.11.8 can fail to compile a module mid-run (``SystemError: AST constructor recursion
    depth mismatch``, python/cpython#106905): a 2 M-account training run died of it when Prefect first imported
    its server modules (docket, compiled through beartype) while submitting the save task. Importing them when
    the command starts moves that compile to a quiet moment; it does not fix the interpreter (3.11.8 does).
    """
    import prefect.server.api.server  # noqa: F401, PLC0415
