"""``docs/features.md``, generated from the feature registry (``python -m features.docs``)."""

from __future__ import annotations

from pathlib import Path

from features.registry import FEATURES
from sources.contract import table_info

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "features.md"


def render_feature_docs() -> str:
    """The feature documentation as Markdown."""
    lines = [
        "# Features",
        "",
        "Generated from `features/registry.py` by `python -m features.docs` (`make docs`); do not edit by hand.",
        "",
        "Every feature describes one account in service on the as-of date and reads only rows stamped on or",
        "before it. A feature whose source table is absent from an extract is absent from the feature frame",
        "(never filled with zeros); the optional tables are marked below. *Actionable* features are ones a rep",
        "can do something about; *sensitive* ones never appear on a rep's page.",
        "",
    ]
    groups: dict[str, list] = {}
    for feature in FEATURES:
        groups.setdefault(feature.group, []).append(feature)
    for group, features in groups.items():
        lines += [f"## {group.capitalize()}", "", "| feature | kind | source table | window | description |"
                  " actionable | sensitive | talking point |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for f in features:
            required = table_info(f.table).required
            source = f"`{f.table}`" + ("" if required else " (optional: absent table, absent feature)")
            window = f"{f.window_days} days" if f.window_days else ""
            lines.append(
                f"| `{f.name}` | {f.kind} | {source} | {window} | {f.description} | "
                f"{'yes' if f.actionable else ''} | {'yes' if f.sensitive else ''} | {f.template} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    DOC_PATH.write_text(render_feature_docs(), encoding="utf-8")
    print(f"Wrote {DOC_PATH}")  # noqa: T201
