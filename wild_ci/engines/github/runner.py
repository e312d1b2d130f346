"""The GitHub Actions runner's environment, as a job reads it (a `RunnerEnvironment`).

act and Forgejo/Gitea runners set the same variables, so every engine's jobs read them through
this. Every matrix leg loads this module: it imports only the standard library.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

# The runner's credentials and the addresses they open: the artifact and cache services, OIDC, the
# repository token. The leg's step removes them before it starts `wild-ci execute` (an `exec` of
# `env -u …`), so neither the executor nor any other ancestor of the experiment holds them in
# /proc/<pid>/environ; the upload step, a separate process started after the leg, keeps them.
CREDENTIALS = (
    "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_RESULTS_URL",
    "ACTIONS_RUNTIME_URL",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_CACHE_URL",
    "GITHUB_TOKEN",
)
# Variables a runner gives the job that the experiment does not inherit: its credentials, and the
# file commands through which a step changes later steps.
WITHHELD = (
    *CREDENTIALS,
    "GITHUB_ENV",
    "GITHUB_PATH",
    "GITHUB_OUTPUT",
    "GITHUB_STATE",
    "GITHUB_STEP_SUMMARY",
)
STEP_SUMMARY_BYTES = 1024 * 1024 - 1024  # GitHub takes 1 MiB per step; a margin for the notice


class GitHubRunner:
    credentials = CREDENTIALS
    withheld = WITHHELD
    step_summary_bytes = STEP_SUMMARY_BYTES

    def on_runner(self, environ: Mapping[str, str]) -> bool:
        return environ.get("GITHUB_ACTIONS") == "true"

    def commit(self, environ: Mapping[str, str]) -> str | None:
        return environ.get("GITHUB_SHA") or None

    def runner_name(self, environ: Mapping[str, str]) -> str | None:
        return environ.get("RUNNER_NAME") or None

    def step_summary_path(self, environ: Mapping[str, str]) -> str | None:
        return environ.get("GITHUB_STEP_SUMMARY") or None

    def event_path(self, environ: Mapping[str, str]) -> str | None:
        return environ.get("GITHUB_EVENT_PATH") or None

    def ref_name(self, environ: Mapping[str, str]) -> str | None:
        return environ.get("GITHUB_REF_NAME") or None

    def stop_commands(self, token: str) -> str:
        return f"::stop-commands::{token}"

    def resume_commands(self, token: str) -> str:
        return f"::{token}::"

    def push_auth(self, url: str, environ: Mapping[str, str]) -> dict[str, str]:
        """On a runner the checkout keeps no credentials; the job authenticates with GITHUB_TOKEN
        through git's environment-only config (never written to disk, never on a command line), as
        actions/checkout would have configured it."""
        token = environ.get("GITHUB_TOKEN")
        if not self.on_runner(environ) or not token or not url.startswith("https://"):
            return {}  # on a workstation, the user's own git credentials push
        host = url.split("/")[2].split("@")[-1]
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.https://{host}/.extraheader",
            "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
        }


RUNNER = GitHubRunner()
