#!/usr/bin/env python3
"""Prints each criterion benchmark's median and its fastest sample, per iteration.

    benches/criterion_summary.py [CRITERION_DIR]   # default: $CARGO_TARGET_DIR/criterion

On a shared machine the median moves with the neighbours' load; the fastest sample (of the
hundred criterion takes) is the one least disturbed by them, and stays put from run to run.
"""
import json
import os
import sys

default = os.path.join(os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
root = sys.argv[1] if len(sys.argv) > 1 else default
for entry in sorted(os.listdir(root)):
    new = os.path.join(root, entry, "new")
    if not os.path.isfile(os.path.join(new, "sample.json")):
        continue
    with open(os.path.join(new, "benchmark.json")) as f:
        name = json.load(f)["full_id"]
    with open(os.path.join(new, "estimates.json")) as f:
        median = json.load(f)["median"]["point_estimate"]
    with open(os.path.join(new, "sample.json")) as f:
        s = json.load(f)
    fastest = min(t / n for t, n in zip(s["times"], s["iters"]))
    print(f"{name:45s} median {median:8.0f} ns   fastest sample {fastest:8.0f} ns")
