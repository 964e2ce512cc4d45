"""Fuzzing the reader and validation: any extract ends in a report (a fatal problem or quarantined rows), never an
exception, and per table rows read = rows kept + rows rejected (issue 21).

The default run (in ``make test``) draws ``FUZZ_EXAMPLES`` = 500 extracts, about 75 s on one core
(``SAVEDESK_FUZZ_EXAMPLES`` overrides it); ``bench/reader_fuzz.py`` draws as many as asked.
"""

from __future__ import annotations

import os

import pytest
from fuzz_extracts import Extract, extract_of, extracts, run_extract
from hypothesis import HealthCheck, Phase, given, settings

FUZZ_EXAMPLES = int(os.environ.get("SAVEDESK_FUZZ_EXAMPLES", "500"))


@pytest.mark.slow
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("SAVEDESK_FUZZ_RANDOM") is None,
    phases=[Phase.explicit, Phase.generate],  # a failure is reported with its seed; a smaller seed is no simpler
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(extract=extracts())
def test_any_extract_gives_a_report_and_every_row_is_kept_or_rejected(extract: Extract) -> None:
    run_extract(extract)


def test_a_few_seeds_already_reach_every_outcome() -> None:
    """A guard on the fuzzer itself: its extracts end fatal, with quarantined rows, and with clean rows kept."""
    reports = [run_extract(extract_of(seed)) for seed in range(30)]

    fatal = [report for report in reports if report.fatal]
    usable = [report for report in reports if not report.fatal]
    assert 5 <= len(fatal) <= 25
    assert any(summary.rows_rejected for report in usable for summary in report.tables)
    assert any(summary.status == "absent" for report in usable for summary in report.tables)
    assert sum(summary.rows_kept for report in usable for summary in report.tables) > 100
