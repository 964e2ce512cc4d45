"""The ``savedesk`` command: a thin shell over the packages.

Every command takes ``--data DIR``, the workspace. Commands parse arguments,
call one package function and print its result; logic lives in the packages.
Each command module (``data_cli``, ``model_cli``, ``nightly_cli``, ``serve_cli``,
``users_cli``, ``monitor_cli``) adds its commands to ``app`` with ``register``;
what they share (consoles, ``--data``, settings, the workspace) is in ``cli_options``.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

from pipelines.data_cli import register as register_data
from pipelines.model_cli import register as register_model
from pipelines.monitor_cli import register as register_monitor
from pipelines.nightly_cli import register as register_nightly
from pipelines.serve_cli import register as register_serve
from pipelines.tabular_cli import tabular_app
from pipelines.users_cli import register as register_users


class GuardedTyper(typer.Typer):
    """The ``savedesk`` app: a failure is one sentence and a non-zero exit, never a traceback (``failures_cli``)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command line; an error a command did not handle becomes a sentence and an exit code."""
        from pipelines.failures_cli import install_log_filter, report_failure

        argv = list(kwargs.get("args") or (args[0] if args else sys.argv[1:]))
        install_log_filter(argv)
        try:
            return super().__call__(*args, **kwargs)
        except (SystemExit, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 (the one place that turns any failure into a sentence)
            sys.exit(report_failure(error, argv))


app = GuardedTyper(
    name="savedesk",
    help="Churn prediction and save strategy for a waste hauler's retention desk.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(tabular_app, name="tabular", help="One-row-per-customer extracts mapped into the contract.")

for _register in (register_data, register_model, register_nightly, register_serve, register_users, register_monitor):
    _register(app)


if __name__ == "__main__":
    app()
