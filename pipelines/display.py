"""Rendering command results for people: rich tables on the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def render_simulation_summary(summary: dict[str, Any], console: Console) -> None:
    """Print a simulated hauler's summary: its size and its headline rates."""
    console.print(
        f"[bold]Simulated hauler[/bold]: {summary['accounts']:,} accounts, "
        f"{summary['start_date']} to {summary['end_date']} (seed {summary['seed']})"
    )
    rows = Table("table", "rows", title="Raw tables")
    for name, count in summary["rows"].items():
        rows.add_row(name, f"{count:,}")
    console.print(rows)
    rates = Table("figure", "value", "plausible range", title="Headline rates")
    rates.add_row("annual churn, commercial", f"{summary['annual_churn_rate_commercial']:.1%}", "8-12 %")
    rates.add_row("controllable share of requests", f"{summary['controllable_share']:.1%}", "55-75 %")
    rates.add_row("durable save rate of answered requests", f"{summary['save_rate']:.1%}", "25-50 %")
    console.print(rates)
    offers = Table("offer the rep made", "share of calls", "durable save rate", title="Saves by offer")
    for offer, rate in summary["save_rate_by_offer"].items():
        offers.add_row(offer, f"{summary['offer_share'][offer]:.1%}", f"{rate:.1%}")
    console.print(offers)


def render_figures(figures: dict[str, Any], console: Console) -> None:
    """Print a flat dict of evaluation figures as a two-column table."""
    table = Table("figure", "value", title="Evaluation")
    for name, value in sorted(figures.items()):
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def render_training(training: Any, outcome: Any, console: Console) -> None:
    """Print what a training run produced and what the gate decided."""
    metrics = training.evaluation.flat("test")
    headline = {k: v for k, v in metrics.items() if ".segment." not in k}
    render_figures(headline, console)
    console.print(training.evaluation.by_segment.round(4).to_string(index=False))
    verdict = "[green]promoted to champion[/green]" if outcome.promoted else "[yellow]not promoted[/yellow]"
    console.print(f"Registered savedesk-churn v{outcome.version} ({outcome.model_uri}): {verdict}")
    console.print(f"Gate: {outcome.summary}")
