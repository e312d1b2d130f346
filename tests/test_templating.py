"""The compiled-template cache (templating._QuietBytecodeCache): a help, never a failure."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from wild_ci import templating


def fresh_environment(monkeypatch: pytest.MonkeyPatch, cache_home: Path) -> jinja2.Environment:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_home))
    templating.environment.cache_clear()
    return templating.environment()


@pytest.fixture(autouse=True)
def _forget_environment():
    yield
    templating.environment.cache_clear()


def test_compiled_templates_are_kept_and_used_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = fresh_environment(monkeypatch, tmp_path).get_template("context.txt.j2")
    files = list((tmp_path / "wild-ci" / "templates").iterdir())
    assert files and oct((tmp_path / "wild-ci" / "templates").stat().st_mode & 0o777) == "0o700"
    again = fresh_environment(monkeypatch, tmp_path).get_template("context.txt.j2")
    assert again is not first and again.render is not None


def test_a_damaged_cache_is_compiled_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fresh_environment(monkeypatch, tmp_path).get_template("results.md.j2")
    for file in (tmp_path / "wild-ci" / "templates").iterdir():
        file.write_bytes(b"not a jinja2 bytecode file")
    template = fresh_environment(monkeypatch, tmp_path).get_template("results.md.j2")
    assert template.render is not None


def test_an_unwritable_cache_is_no_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError("read-only")  # as a read-only folder answers (root writes through modes)

    monkeypatch.setattr(jinja2.bccache.tempfile, "NamedTemporaryFile", refuse)
    assert fresh_environment(monkeypatch, tmp_path).get_template("context.txt.j2") is not None


def test_no_cache_folder_at_all_is_no_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    environment = fresh_environment(monkeypatch, blocker)
    assert environment.bytecode_cache is None
    assert environment.get_template("context.txt.j2") is not None
