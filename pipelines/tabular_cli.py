"""``savedesk tabular``: one-row-per-customer extracts, read through a mapping file.

A thin shell: it loads the mapping (``sources.mapping_file``), maps the CSV
(``sources.tabular``), evaluates the churn model on the mapping's split
(``models.tabular``) and prints the figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

tabular_app = typer.Typer(
    help="One-row-per-customer extracts mapped into savedesk through a mapping file.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True, soft_wrap=True)


@tabular_app.callback()
def tabular() -> None:
    """One-row-per-customer extracts mapped into savedesk through a mapping file."""


@tabular_app.command()
def evaluate(
    mapping: Annotated[Path, typer.Option("--mapping", help="The extract's mapping file (YAML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as one JSON object.")] = False,
    budget_seconds: Annotated[
        float | None,
        typer.Option(
            "--budget-seconds",
            envvar="SAVEDESK_TABULAR__SEARCH__BUDGET_SECONDS",
            help="Seconds the settings search may spend inside the train part (0: the declared settings; default 45).",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the settings search and its folds.")] = 7,
) -> None:
    """Train the churn model on the mapping's train part; print test and val AUC beside the published baseline.

    The model first chooses its own settings by a seeded, time-budgeted search by cross-validation inside
    the train part (``models.search``); it never looks at val or test to choose them.
    """
    from dataclasses import replace

    from models.tabular import TABULAR_SEARCH, ExtractEvaluationError, evaluate_extract
    from sources.extract_mapping import MappingError
    from sources.mapping_file import load_mapping
    from sources.tabular import read_customer_extract

    try:
        extract = read_customer_extract(load_mapping(mapping))
    except MappingError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    budget = TABULAR_SEARCH.budget_seconds if budget_seconds is None else budget_seconds
    search = replace(TABULAR_SEARCH, budget_seconds=max(0.0, budget), seed=seed)
    try:
        if as_json:
            report = evaluate_extract(extract, search=search)
        else:
            with console.status(f"Choosing settings and training on {mapping}…"):
                report = evaluate_extract(extract, search=search)
    except ExtractEvaluationError as error:
        errors.print(f"[red]{mapping}: {error}[/red]")
        raise typer.Exit(1) from None
    if as_json:
        from pipelines.display import print_json

        print_json(report)
    else:
        _render(report, mapping)


def _render(report: dict[str, Any], mapping: Path) -> None:
    figures = Table("figure", "churn model", "published baseline (LR)", title=f"{mapping}")
    figures.add_row("test AUC", f"{report['test_auc']:.4f}", f"{report['baseline_lr_test_auc']:.4f}")
    figures.add_row("val AUC", f"{report['val_auc']:.4f}", f"{report['baseline_lr_val_auc']:.4f}")
    figures.add_row("test AUC, trained on train only", f"{report['test_auc_train_only']:.4f}", "")
    console.print(figures)
    parts = Table("part", "customers", "churn rate", title="Split")
    for part, rows in report["rows"].items():
        parts.add_row(part, f"{rows:,}", f"{report['churn_rate'][part]:.1%}")
    console.print(parts)
    console.print(
        f"{report['trees']} trees chosen by {report['trees_chosen_by']} (CV AUC {report['cv_auc']:.4f});"
        f" test scored by the model fitted on {report['refit_on']}"
        f" ({report['refit_trees']} trees)."
    )
    console.print(report["settings_summary"])
