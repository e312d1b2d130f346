"""Run by tests/test_sandbox.py in a child process (as this user, as `nobody`, with user namespaces
refused): builds a user's repository, a leg's `--shared` clone of it and a HOME with a key under
BASE, tries what an experiment might, through the backend the probe picks, and prints JSON.

Usage: python sandbox_scenario.py BASE BWRAP [BACKEND]"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from wild_ci import sandbox

IDENTITY = ["-c", "user.name=t", "-c", "user.email=t@example.com"]


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *IDENTITY, *args], cwd=cwd, check=True, capture_output=True)


def scene(base: Path) -> dict[str, Path]:
    user, home, checkout = base / "user", base / "home", base / "checkout"
    user.mkdir()
    (user / "tree.txt").write_text("mine\n")
    git("init", "-q", cwd=user)
    git("add", "tree.txt", cwd=user)
    git("commit", "-qm", "first", cwd=user)
    git("clone", "-q", "--shared", str(user), str(checkout), cwd=base)
    (checkout / "latest").symlink_to(user)
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("SECRET\n")
    return {"user": user, "home": home, "checkout": checkout}


def main() -> None:
    base, bwrap = Path(sys.argv[1]), sys.argv[2]
    if len(sys.argv) > 3:
        os.environ[sandbox.BACKENDS_ENV] = sys.argv[3]
    where = scene(base)
    user, home, checkout = where["user"], where["home"], where["checkout"]
    os.environ["HOME"] = str(home)
    choice = sandbox.choose("auto", (bwrap,))
    report: dict[str, object] = {"backend": choice.backend, "why": choice.why}
    if choice.backend == sandbox.NONE:
        print(json.dumps(report))
        return
    scratch = base / "scratch"
    policy = sandbox.leg_policy(checkout, scratch, os.environ, hidden=[user])
    attempts = {
        "write_checkout": "touch new-file",
        "write_user": f"touch {user}/evil",
        "write_user_from_parent": f"cd {base} && touch user/evil-parent",
        "write_through_symlink": "touch latest/evil-link",
        "write_user_glob": f"touch {base}/use?/tree.txt",
        "read_user": f"cat {user}/tree.txt",
        "read_key": f"cat {home}/.ssh/id_rsa",
        "read_key_via_home": "cat ~/.ssh/id_rsa",
        "write_git": "touch .git/evil",
        "git_log": "git log --oneline",
        "write_private_home": "mkdir -p ~/.cache/pip && echo x > ~/.cache/pip/entry",
        "write_tmpdir": 'echo x > "$(mktemp)"',
        "python": f"{sys.executable} -c 'print(1)'",
    }
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    connect = f"{sys.executable} -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 5)'"
    attempts |= {"connect_network_on": connect, "connect_network_off": connect}
    results = {}
    for name, command in attempts.items():
        cut = dataclasses.replace(policy, network=False) if name == "connect_network_off" else policy
        started = sandbox.launch(choice, cut, ["bash", "--noprofile", "--norc", "-c", command], checkout,
                                 dict(os.environ))  # fmt: skip
        try:
            done = subprocess.run(started.argv, env=started.env, preexec_fn=started.preexec_fn, cwd=checkout,
                                  capture_output=True, text=True, timeout=60)  # fmt: skip
        finally:
            started.close()
        results[name] = {"exit": done.returncode, "out": done.stdout[-200:], "err": done.stderr[-300:]}
    listener.close()
    report["results"] = results
    report["planted"] = sorted(p.name for p in user.glob("evil*"))
    report["tree"] = (user / "tree.txt").read_text()
    report["uid"] = os.getuid()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
