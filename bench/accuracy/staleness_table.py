#!/usr/bin/env python3
"""The staleness table of bench/accuracy/run.sh's ssl-staleness part.

Reads OUT/stale_<example>_seed<S>_d<δ>_k<K>/summary.json and prints, per example and per (δ, K),
the mean and the sample standard deviation over the seeds of the linear probe and the kNN
monitor, and for every configuration other than δ = 0, K = 0 the per-seed paired difference to
δ = 0: its mean and a 95 % confidence interval (Student t with n − 1 degrees of freedom), so a
difference is read against the seed-to-seed spread rather than by its mean alone.

    python3 bench/accuracy/staleness_table.py OUT
"""
import json
import math
import pathlib
import re
import statistics
import sys

# Two-sided 95 % quantiles of Student's t for 1..10 degrees of freedom; 1.96 beyond.
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}
NAME = re.compile(r"stale_(?P<example>\w+?)_seed(?P<seed>\d+)_d(?P<delta>\d+)_k(?P<k>\d+)$")


def load(out):
    """{example: {(δ, K): {seed: (probe, knn)}}} from every finished run under `out`."""
    runs = {}
    for summary in sorted(pathlib.Path(out).glob("stale_*/summary.json")):
        match = NAME.match(summary.parent.name)
        if not match:
            continue
        results = json.loads(summary.read_text())["results"]
        config = (int(match["delta"]), int(match["k"]))
        probe = 100.0 * results["linear_probe_accuracy"]
        knn = 100.0 * results.get("knn_accuracy", float("nan"))
        runs.setdefault(match["example"], {}).setdefault(config, {})[int(match["seed"])] = (probe, knn)
    return runs


def spread(values):
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def interval(differences):
    """Mean of paired differences and the half-width of its 95 % interval (nan for one seed)."""
    n = len(differences)
    mean, sd = spread(differences)
    if n < 2:
        return mean, float("nan")
    return mean, T95.get(n - 1, 1.96) * sd / math.sqrt(n)


def table(example, configs):
    lines = [f"### {example}", "",
             "| δ | K | seeds | probe mean ± sd (%) | kNN mean ± sd (%) | probe − (δ = 0) mean [95 % CI] (pp) |",
             "|---|---|---|---|---|---|"]
    base = configs.get((0, 0), {})
    for (delta, k), by_seed in sorted(configs.items()):
        seeds = sorted(by_seed)
        probe_mean, probe_sd = spread([by_seed[s][0] for s in seeds])
        knn_mean, knn_sd = spread([by_seed[s][1] for s in seeds])
        paired = [by_seed[s][0] - base[s][0] for s in seeds if s in base]
        if (delta, k) == (0, 0) or not paired:
            versus = "—"
        else:
            mean, half = interval(paired)
            versus = f"{mean:+.2f} [{mean - half:+.2f}, {mean + half:+.2f}] (n = {len(paired)})"
        lines.append(f"| {delta} | {k} | {len(seeds)} | {probe_mean:.2f} ± {probe_sd:.2f} | "
                     f"{knn_mean:.2f} ± {knn_sd:.2f} | {versus} |")
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: staleness_table.py OUT")
    runs = load(sys.argv[1])
    if not runs:
        sys.exit(f"staleness_table.py: no stale_*/summary.json under {sys.argv[1]}")
    print("\n\n".join(table(example, configs) for example, configs in sorted(runs.items())))


if __name__ == "__main__":
    main()
