#!/usr/bin/env bash
# Ends one part of a long search (`trainer --resume NAME`, run in parts across sessions) at a
# clean point, then commits what the next part's `--resume` needs, so that a session cut off
# after the part still keeps it. Start it beside the trainer, in the repository's root.
#
#   benches/search_part_stop.sh NAME LOG --after-line TEXT
#       Ctrl-C once LOG holds TEXT, for example 'search: trial-121 (rung 5)', the line the
#       trainer prints when a rung's last trial has reported. The trials of a rung compete
#       on seconds, so a rung runs whole on one machine: the next stage, barely started when
#       the Ctrl-C lands, has its folder deleted and runs whole in the next part.
#   benches/search_part_stop.sh NAME LOG --at HH:MM
#       Ctrl-C at that UTC time, for the finals: the Ctrl-C makes the final validate and
#       checkpoint at the step it meets; it keeps its folder and the next part continues it.
#
# The Ctrl-C goes to the trainer's own process (`pgrep -x trainer`): a wrapper such as
# /usr/bin/time ignores SIGINT. The interrupted process writes an interim model and report
# and rewrites the cross-run charts; those are not results of the run, and the tracked ones
# are restored before the commit. The part's write-up (README, trial CSVs) is left to you.
set -euo pipefail

usage() {
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}
[ $# -eq 4 ] || usage
name=$1 log=$2 mode=$3 target=$4
run=models/$name
[ -f "$run/checkpoint/search.json" ] || {
    echo "$run/checkpoint/search.json not found: run this from the repository's root, NAME being a search run" >&2
    exit 1
}
case $mode in
--after-line) ;;
--at) deadline=$(date -u -d "$target" +%s 2>/dev/null) || {
    echo "--at wants a UTC time such as 07:30, got '$target'" >&2
    exit 2
} ;;
*) usage ;;
esac

stop_now() {
    if [ "$mode" = --after-line ]; then
        grep -qF -- "$target" "$log" 2>/dev/null
    else
        [ "$(date -u +%s)" -ge "$deadline" ]
    fi
}

while ! stop_now; do
    if ! pgrep -x trainer >/dev/null; then
        echo "$(date -u +%T) the trainer exited before the stopping point; nothing committed" >&2
        exit 1
    fi
    sleep 5
done
pids=$(pgrep -x trainer || true)
if [ "$(echo "$pids" | wc -w)" -ne 1 ]; then
    echo "$(date -u +%T) expected one trainer process, found: ${pids:-none}; nothing sent or committed" >&2
    exit 1
fi
echo "$(date -u +%T) Ctrl-C to trainer $pids"
kill -INT "$pids"
while kill -0 "$pids" 2>/dev/null; do sleep 2; done
echo "$(date -u +%T) the trainer exited"

if [ "$mode" = --after-line ]; then
    python3 benches/search_part_files.py --unfinished "$run" | while read -r stage; do
        rm -rf -- "$stage"
        echo "deleted $stage: it starts again whole in the next part"
    done
fi
git checkout -- reports/
python3 benches/search_part_files.py --allow-missing "$run" | xargs git add -f
# A stage that finished in this part deleted its checkpoint files; commit the deletions too, or a
# clean clone keeps stale copies beside the finished weights.
git add -u -- "$run"
git commit -q -m "$name: the part that ended $(date -u +'%F %H:%M') UTC, its resumable state (the write-up follows)"
echo "$(date -u +%T) committed $(git rev-parse --short HEAD)"
