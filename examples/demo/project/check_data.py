"""Validate a CSV of x,y rows; exit 3 when any row is malformed."""

import csv
import sys

bad = 0
with open(sys.argv[1]) as handle:
    for number, row in enumerate(csv.DictReader(handle), start=2):
        try:
            float(row["x"])
            float(row["y"])
        except (TypeError, ValueError):
            bad += 1
            print(f"{sys.argv[1]}:{number}: malformed row {row}", file=sys.stderr)
print(f"checked {sys.argv[1]}: {bad} malformed row(s)")
sys.exit(3 if bad else 0)
