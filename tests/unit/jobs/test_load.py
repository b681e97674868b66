"""The load job's outcome: its report, and when the command must exit non-zero (the load's own
path against the real server is tested in tests/integration)."""

from __future__ import annotations

from kg_builder.core.models import Rejection
from kg_builder.inputs.readers import ReaderStats
from kg_builder.jobs.load import LoadOutcome
from kg_builder.loading.loader import LoadSummary

CRITIC = {"critic": "typicality", "version": "v3", "posts": 2, "edges": 1234, "seconds": 1.25,
          "edges_per_s": 987}


def test_a_clean_load_with_its_critic_needs_no_non_zero_exit() -> None:
    outcome = LoadOutcome(LoadSummary(posts_read=2, posts_loaded=2), ReaderStats(), CRITIC)
    assert outcome.problems() == ""
    assert outcome.describe()[-1] == "critic typicality v3: 1,234 edges scored (typicality) in 1.2s"
    assert outcome.as_dict()["critic"] == CRITIC
    assert outcome.as_dict()["load"]["posts_loaded"] == 2


def test_rejected_records_are_a_non_zero_exit_that_names_the_fix() -> None:
    summary = LoadSummary(posts_read=3, posts_loaded=2,
                          rejected=[Rejection(file="f.jsonl", line=2, reason="bad")])
    outcome = LoadOutcome(summary, ReaderStats())
    assert outcome.problems().startswith("1 record(s) rejected; the rest was loaded")
    assert not any(line.startswith("critic") for line in outcome.describe())


def test_a_failed_scoring_keeps_the_load_and_says_how_to_score_later() -> None:
    outcome = LoadOutcome(LoadSummary(posts_read=1, posts_loaded=1), ReaderStats(),
                          critic_failed="ServiceUnavailable: gone")
    assert outcome.problems() == (
        "the records are loaded, but the critic could not score their edges "
        "(ServiceUnavailable: gone); run `miko critic score` once the cause is fixed")
