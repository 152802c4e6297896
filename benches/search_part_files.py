#!/usr/bin/env python3
"""Lists the files a search run needs to resume on another machine, for `git add -f`.

A long search runs in parts, one machine each, and only what is committed survives a machine.
Committing every trial's weights would add ~100 MB per rung, so this keeps what `--resume`
reads and what the ensemble can still draw on:

- the run's spec and plan (`checkpoint/run.json`) and progress (`checkpoint/search.json`);
- every stage's `stage.json` (its fixed budget and seed);
- the weights of the trials the ensemble pool can still pick: the pool is at most the best
  eight of the two highest rungs (`ensemble_pool` in crates/trainer/src/search.rs), so the best
  eight of every rung are kept;
- every final's weights, and the whole folder of a stage stopped midway (its checkpoint).

A file that should be there and is not fails the listing, unless `--allow-missing` names
what a lost machine took (search-24h-2 lost rung 2's weights that way): it is then reported on
stderr and left out.

`--unfinished` lists instead the folders of the stages stopped midway (no record in
`search.json`), for a part that ends between rungs and drops the next rung's barely started
stage (benches/search_part_stop.sh).

Usage: python3 benches/search_part_files.py [--allow-missing | --unfinished] models/NAME  ->  one path per line.
"""

import json
import sys
from pathlib import Path

POOL_SIZE = 8


def main() -> int:
    args = sys.argv[1:]
    allow_missing = "--allow-missing" in args
    unfinished_only = "--unfinished" in args
    args = [a for a in args if a not in ("--allow-missing", "--unfinished")]
    if len(args) != 1:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    run = Path(args[0])
    checkpoint = run / "checkpoint"
    progress_path = checkpoint / "search.json"
    if not progress_path.is_file():
        print(f"{progress_path} not found: is {run} a search run?", file=sys.stderr)
        return 1
    records = json.loads(progress_path.read_text())["records"]
    finished = {r["name"] for r in records}
    stages = checkpoint / "stages"
    all_stages = sorted(stages.iterdir()) if stages.is_dir() else []
    unfinished = [s for s in all_stages if s.name not in finished]
    if unfinished_only:
        for stage in unfinished:
            print(stage)
        return 0

    keep = [checkpoint / "run.json", progress_path]
    by_rung: dict[int, list[dict]] = {}
    for r in records:
        if r["kind"] == "final":
            keep.append(checkpoint / "stages" / r["name"] / "weights.bpk")
        else:
            by_rung.setdefault(r["rung"], []).append(r)
    for trials in by_rung.values():
        trials.sort(key=lambda r: (-r["validation_accuracy"], r["validation_loss"]))
        keep += [checkpoint / "stages" / r["name"] / "weights.bpk" for r in trials[:POOL_SIZE]]

    keep += [stage / "stage.json" for stage in all_stages]
    for stage in unfinished:
        keep += [f for f in sorted(stage.iterdir()) if f.name != "stage.json"]

    present = [p for p in keep if p.is_file()]
    missing = [p for p in keep if p not in present]
    if missing:
        print("missing: " + ", ".join(map(str, missing)), file=sys.stderr)
        if not allow_missing:
            return 1
    print("\n".join(str(p) for p in present))
    return 0


if __name__ == "__main__":
    sys.exit(main())
