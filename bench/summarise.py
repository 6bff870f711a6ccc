#!/usr/bin/env python3
"""The one summariser of the bench/ scripts: min, median and max per command, as a Markdown
table, and ratios of medians.

    summarise.py hyperfine RESULTS.json [options]   # hyperfine --export-json output
    summarise.py samples FILE... [options]          # lines "name<TAB>ns ns ns ..."

With `samples`, lines of the same name (one per round) are pooled; the table also gives the
mean, which is where a cost paid once a second in a long run shows.

Options:
    --title TEXT            a "## TEXT" heading above the table
    --unit us|ms            unit of the table (default ms)
    --column NAME           add a column "NAME median / this median" (>1: this is faster)
    --ratio A/B[<=TARGET]   print "A / B (medians)", and whether it meets TARGET; the ratio of
                            the minima follows (on a loaded machine the least disturbed runs)
"""

import argparse
import json
import statistics
import sys
from collections import OrderedDict

SCALE = {"us": 1e6, "ms": 1e3}


def from_hyperfine(paths):
    runs = OrderedDict()
    for path in paths:
        with open(path) as results:
            for result in json.load(results)["results"]:
                runs.setdefault(result["command"], []).extend(result["times"])
    return runs


def from_samples(paths):
    runs = OrderedDict()
    for path in paths:
        with open(path) as samples:
            for line in samples:
                line = line.rstrip("\n")
                if not line:
                    continue
                name, _, times = line.partition("\t")
                runs.setdefault(name, []).extend(int(time) * 1e-9 for time in times.split())
    return runs


def parse_ratio(text):
    fraction, _, target = text.partition("<=")
    numerator, slash, denominator = fraction.partition("/")
    if not slash:
        sys.exit(f"summarise.py: --ratio {text!r} is not A/B[<=TARGET]")
    return numerator.strip(), denominator.strip(), float(target) if target else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("source", choices=["hyperfine", "samples"])
    parser.add_argument("files", nargs="+")
    parser.add_argument("--title")
    parser.add_argument("--unit", choices=sorted(SCALE), default="ms")
    parser.add_argument("--column")
    parser.add_argument("--ratio", action="append", default=[], type=parse_ratio)
    options = parser.parse_args()

    runs = (from_hyperfine if options.source == "hyperfine" else from_samples)(options.files)
    scale, unit = SCALE[options.unit], options.unit
    medians = {name: statistics.median(times) for name, times in runs.items() if times}
    for name, times in runs.items():
        if not times:
            sys.exit(f"summarise.py: no measurements for {name!r}")
    for name, _, _ in options.ratio:
        if name not in medians:
            sys.exit(f"summarise.py: --ratio names {name!r}, which was not measured")

    if options.title:
        print(f"\n## {options.title}\n")
    header = f"| command | runs | min ({unit}) | median ({unit}) | max ({unit}) |"
    rule = "| --- | ---: | ---: | ---: | ---: |"
    with_mean = options.source == "samples"
    if with_mean:
        header += f" mean ({unit}) |"
        rule += " ---: |"
    if options.column:
        header += f" {options.column} median / this median |"
        rule += " ---: |"
    print(header)
    print(rule)
    for name, times in runs.items():
        row = (
            f"| {name} | {len(times)} | {min(times) * scale:.3f} | {medians[name] * scale:.3f}"
            f" | {max(times) * scale:.3f} |"
        )
        if with_mean:
            row += f" {statistics.fmean(times) * scale:.3f} |"
        if options.column:
            row += f" {medians[options.column] / medians[name]:.2f} |"
        print(row)

    if options.ratio:
        print()
    for numerator, denominator, target in options.ratio:
        if denominator not in medians:
            sys.exit(f"summarise.py: --ratio names {denominator!r}, which was not measured")
        value = medians[numerator] / medians[denominator]
        of_minima = min(runs[numerator]) / min(runs[denominator])
        verdict = ""
        if target is not None:
            verdict = f" (target <= {target:g}: {'met' if value <= target else 'NOT MET'})"
        print(
            f"- {numerator} / {denominator} (medians): **{value:.3f}**{verdict};"
            f" minima: {of_minima:.3f}"
        )


if __name__ == "__main__":
    main()
