"""Where a local run's files are found again, after re-runs of the same iteration."""

from __future__ import annotations

from wild_ci import ledger
from wild_ci.engines.act.runs import local_leg_folder
from wild_ci.layout import runs_root


def test_a_leg_is_found_in_the_latest_run_that_has_it(make_repo) -> None:
    repo = ledger.open_repo(make_repo())
    latest = runs_root(repo, "main", "0001")
    runs = {"0001": ["a"], "0001.run-1": ["a", "b"], "0001.run-2": ["b"], "0001.run-10": ["c"]}
    for name, legs in runs.items():
        run_dir = latest.with_name(name)
        for leg in legs:
            (run_dir / "legs" / leg).mkdir(parents=True)
    assert local_leg_folder(repo, "main", "0001", "a") == latest / "legs" / "a"
    assert local_leg_folder(repo, "main", "0001", "b") == latest.with_name("0001.run-2") / "legs" / "b"
    assert local_leg_folder(repo, "main", "0001", "c") == latest.with_name("0001.run-10") / "legs" / "c"
    assert local_leg_folder(repo, "main", "0001", "d") is None
