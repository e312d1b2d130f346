"""Train the baseline: python train.py --lr=0.05 --epochs=200"""

import argparse
import json
import os
from pathlib import Path

from model import load, train

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=100)
args = parser.parse_args()

rows = load(Path("data/train.csv"))
w, b, loss = train(rows, args.lr, args.epochs)
print(f"seed={os.environ.get('WILD_SEED', '-')} lr={args.lr} epochs={args.epochs}")
print(f"w={w:.4f} b={b:.4f} train_mse={loss:.5f}")
Path("results").mkdir(exist_ok=True)
Path("results/model.json").write_text(json.dumps({"w": w, "b": b, "train_mse": loss}) + "\n")
# what wild-ci reads as this run's metrics (lr and epochs echo its parameters: shown, not ranked)
Path("metrics.json").write_text(json.dumps({"train_mse": loss, "lr": args.lr, "epochs": args.epochs}) + "\n")
