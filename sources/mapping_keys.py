"""Reading a mapping file's YAML: values as the CSV writes them, and typed keys that fail by name.

``MappingYamlLoader`` keeps ``Yes``/``No`` as text (only true/false are
booleans); ``KeyReader`` checks each key's type and raises ``MappingError``
naming the file and the key.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from sources.extract_mapping import MappingError


class MappingYamlLoader(yaml.SafeLoader):
    """YAML where only true/false are booleans, so ``positive: Yes`` stays the text "Yes" as in the CSV."""


MappingYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _first in "tTfF":
    MappingYamlLoader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), [_first]
    )


class KeyReader:
    """Typed access to the mapping's keys, each failure naming the file and the key."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, message: str) -> MappingError:
        """The error to raise for a key of this file."""
        return MappingError(f"{self.path}: {key}: {message}")

    def table(self, value: Any, key: str, allowed: set[str]) -> dict[str, Any]:
        """A mapping of some of the ``allowed`` keys."""
        if not isinstance(value, dict):
            raise self.fail(key, f"expected a mapping of keys ({', '.join(sorted(allowed))}), got {value!r}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            raise self.fail(key, f"unknown key(s) {unknown}; expected some of {sorted(allowed)}")
        return value

    def text(self, value: Any, key: str) -> str:
        """A column name or value, as text."""
        if isinstance(value, bool) or value is None or isinstance(value, dict | list):
            raise self.fail(key, f"expected a column name or value (text), got {value!r}")
        return str(value)

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        """A list of column names or values (none when the key is absent)."""
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list, got {value!r}")
        return tuple(self.text(item, f"{key}[{i}]") for i, item in enumerate(value))

    def integer(self, value: Any, key: str, minimum: int = 0) -> int:
        """A whole number of at least ``minimum``."""
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"expected a whole number >= {minimum}, got {value!r}")
        return value

    def size(self, value: Any, key: str) -> float | int:
        """A part's size as ``train_test_split`` takes it: a fraction in (0, 1) or a row count."""
        if isinstance(value, float) and 0.0 < value < 1.0:
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            return value
        raise self.fail(key, f"expected a fraction between 0 and 1 or a row count >= 1, got {value!r}")

    def day(self, value: Any, key: str) -> date:
        """A date written YYYY-MM-DD."""
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(key, f"expected a date as YYYY-MM-DD, got {value!r}") from None
