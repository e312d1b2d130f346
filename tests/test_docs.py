"""Issue 27: the documentation site builds with warnings as errors, its reference pages come from the
code, and the README stays a five-minute read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wild_ci.config import CONFIG_KEYS, ConfigError, _config_from
from wild_ci.parse.fields import FIELDS, Field, _optional_path

SOURCE = Path(__file__).resolve().parents[1]
README_MAX_LINES = 250


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(SOURCE / "docs"), str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    return out


def test_the_site_builds_with_warnings_as_errors_and_has_every_page(site: Path) -> None:
    pages = {path.stem for path in (SOURCE / "docs").glob("*.md")}
    built = {path.stem for path in site.glob("*.html")}
    assert pages <= built, pages - built


def test_the_reference_lists_every_field_and_config_key_from_the_code(site: Path) -> None:
    html = (site / "reference.html").read_text()
    for field in FIELDS:
        assert (
            f'<code class="docutils literal notranslate"><span class="pre">{field.key}</span></code>' in html
        )
        assert field.description.split("`")[0].strip()[:30].replace("'", "&#x27;") in html
    for key in CONFIG_KEYS:
        assert f'<span class="pre">{key}</span>' in html


def test_the_cli_reference_comes_from_the_parser(site: Path) -> None:
    html = (site / "cli.html").read_text()
    for command in ("submit", "run", "loop", "leaderboard", "rerun"):
        assert f'id="{command}"' in html, command  # a section per command
    assert "--max-iterations" in html and "--skip-invalid" in html


def test_a_field_without_a_description_is_refused() -> None:
    with pytest.raises(TypeError, match="has no description"):
        Field("workdir", _optional_path, "")


def test_every_config_key_the_reader_accepts_is_described() -> None:
    with pytest.raises(ConfigError) as refused:
        _config_from({"no_such_key": 1}, lambda key, message: ConfigError(message))
    listed = str(refused.value).split("(known: ")[1].rstrip(")").split(", ")
    assert set(listed) == set(CONFIG_KEYS) and all(text.strip() for text in CONFIG_KEYS.values())


def test_the_readme_is_short_and_links_to_pages_that_exist() -> None:
    text = (SOURCE / "README.md").read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    for target in __import__("re").findall(r"\]\((docs/[^)]+)\)", text):
        assert (SOURCE / target).is_file(), target
