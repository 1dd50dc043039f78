"""Each job run logs one short line: the job, its outcome, how long it took, what it did."""

import logging

import pytest

from core.jobs import run_job, short_result

pytestmark = pytest.mark.django_db


def test_a_run_logs_one_line_with_its_outcome_duration_and_what_it_did(caplog, redis):
    with caplog.at_level(logging.INFO, logger="core.jobs"):
        run_job("usage.rate", lambda: {"status": "ok", "created": 2, "finalized": 0, "updated": 1})

    lines = [r.getMessage() for r in caplog.records if r.name == "core.jobs"]
    assert len(lines) == 1
    assert lines[0].startswith("job usage.rate ok in ")
    assert lines[0].endswith(' s: {"created": 2, "updated": 1}')


def test_the_line_says_what_a_run_did_not_what_it_did_not():
    result = {
        "job": "collect-and-rate",
        "started_at": "2026-12-04T20:56:51Z",
        "workspaces": {"status": "ok", "created": 0, "updated": 1},
        "meters": {"status": "ok", "hours_rated": 0},
    }

    assert short_result(result) == '{"workspaces": {"updated": 1}}'


def test_a_long_result_is_cut_short_in_the_line():
    assert short_result({"status": "ok", "ids": list(range(200))}).endswith("…")
    assert len(short_result({"status": "ok", "ids": list(range(200))})) == 160
