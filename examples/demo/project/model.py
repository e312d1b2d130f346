"""A one-variable linear model trained by gradient descent (standard library only)."""

import csv
from pathlib import Path


def load(path: Path) -> list[tuple[float, float]]:
    with path.open() as handle:
        return [(float(row["x"]), float(row["y"])) for row in csv.DictReader(handle)]


def train(rows, lr: float, epochs: int) -> tuple[float, float, float]:
    w = b = 0.0
    for _ in range(epochs):
        gw = sum((w * x + b - y) * x for x, y in rows) * 2 / len(rows)
        gb = sum((w * x + b - y) for x, y in rows) * 2 / len(rows)
        w, b = w - lr * gw, b - lr * gb
    return w, b, mse(rows, w, b)


def mse(rows, w: float, b: float) -> float:
    return sum((w * x + b - y) ** 2 for x, y in rows) / len(rows)
