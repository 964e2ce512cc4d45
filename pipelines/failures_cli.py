"""What the ``savedesk`` command does with a failure: one sentence on stderr and a non-zero exit, no traceback.

A known refusal (``WorkspaceError`` and the errors of the layers below that name the table, column, setting
or file to change) is printed as its message, exit code 2. Anything unexpected is printed as one sentence
with the path of a log file under the workspace (``DIR/logs/savedesk-<time>.log``) that keeps the traceback,
exit code 70. Tracebacks Prefect would print for a failed task or flow go to the same file; its log line
stays.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

UNEXPECTED_EXIT = 70
"""Exit code of an unexpected failure (EX_SOFTWARE)."""
REFUSED_EXIT = 2
PREFECT_RUN_LOGGERS = ("prefect.flow_runs", "prefect.task_runs", "prefect.engine", "prefect")


def workspace_of(argv: Sequence[str]) -> Path:
    """The ``--data`` folder of a command line (default: SAVEDESK_DATA or data/demo, as the settings say)."""
    import os

    args = list(argv)
    for i, arg in enumerate(args):
        if arg == "--data" and i + 1 < len(args):
            return Path(args[i + 1])
        if arg.startswith("--data="):
            return Path(arg.split("=", 1)[1])
    return Path(os.environ.get("SAVEDESK_DATA", "data/demo"))


def log_file(argv: Sequence[str]) -> Path:
    """A new log file under the workspace's ``logs/`` (the current folder when the workspace cannot hold one)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    folder = workspace_of(argv) / "logs"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        folder = Path.cwd()
    return folder / f"savedesk-{stamp}.log"


class TracebacksToFile(logging.Filter):
    """Moves the traceback of a log record into a file; the record's one-line message is still printed."""

    def __init__(self, argv: Sequence[str]) -> None:
        """Write tracebacks to a log file of the workspace of ``argv``, made when the first one comes."""
        super().__init__()
        self.argv = list(argv)
        self.path: Path | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record, without its traceback (which goes to the file)."""
        if record.exc_info:
            self.path = self.path or log_file(self.argv)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(f"{record.name}: {record.getMessage()}\n")
                out.write("".join(traceback.format_exception(*record.exc_info)) + "\n")
            record.exc_info, record.exc_text = None, None
        return True


def install_log_filter(argv: Sequence[str]) -> TracebacksToFile:
    """Put ``TracebacksToFile`` on Prefect's run loggers (before any record is made)."""
    keeper = TracebacksToFile(argv)
    for name in PREFECT_RUN_LOGGERS:
        logging.getLogger(name).addFilter(keeper)
    return keeper


def known_refusal(error: BaseException) -> bool:
    """Whether an error is a refusal whose message already says what to change."""
    from features.build import FeatureRegistryError
    from features.labels import LabelSourceError, LabelWindowError
    from models.dataset import SplitError
    from pipelines.workspace import WorkspaceError
    from sources.reader import TableReadError

    return isinstance(
        error, WorkspaceError | LabelSourceError | LabelWindowError | SplitError | TableReadError | FeatureRegistryError
    )


def settings_problems(error: BaseException, argv: Sequence[str]) -> str:
    """The sentence for settings that do not load (a wrong value in savedesk.toml or SAVEDESK_*), else empty."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return ""
    where = workspace_of(argv) / "savedesk.toml"
    wrong = "; ".join(
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']} (found {problem.get('input')!r})"
        for problem in error.errors()
    )
    return f"The settings do not load ({where} or a SAVEDESK_ variable): {wrong}. Fix the setting and run again."


def report_failure(error: BaseException, argv: Sequence[str]) -> int:
    """Print a failure as one sentence on stderr (its traceback into a log file) and give the exit code."""
    command = " ".join(["savedesk", *argv[:1]])
    settings = settings_problems(error, argv)
    if settings:
        sys.stderr.write(settings + "\n")
        return REFUSED_EXIT
    if known_refusal(error):
        sys.stderr.write(f"{error}\n")
        return REFUSED_EXIT
    path = log_file(argv)
    path.write_text(f"savedesk {' '.join(argv)}\n" + "".join(traceback.format_exception(error)), encoding="utf-8")
    first = str(error).splitlines()[0] if str(error) else ""
    sys.stderr.write(
        f"{command} failed unexpectedly ({type(error).__name__}: {first}). The details are in {path}:"
        " report it with that file.\n"
    )
    return UNEXPECTED_EXIT
