#!/bin/sh
# SPDX-License-Identifier: MIT
#
# bench-preview.sh [BUILD] [SECONDS] [ROUNDS] - what the camera's JPEG
# preview costs the camera process (issue 7's target: under 2% of one
# core).
#
# Runs rkv-camera on a 1920x1080 NV12 test pattern at 30 fps with
# --preview 640x360 --preview-fps 15 (the CPU image backend), one consumer
# of the full-resolution pool and one of the preview pool (rkv watch, in
# processes of their own), and measures the camera's CPU time (utime +
# stime of all its threads, /proc/PID/stat, as rkv-bench's camera section
# does) over SECONDS (default 10) with the preview on, then off (rkv
# preview NAME off: the same consumers stay attached), ROUNDS times
# (default 3), alternating so that a busy neighbour weighs on both alike.
# Prints each round and the means: the preview's added share of one core,
# and the previews made a second.
set -eu

build=${1:-build}
secs=${2:-10}
rounds=${3:-3}
camera=$build/src/rkv-camera
rkv=$build/src/rkv
name=benchpv.$$
tck=$(getconf CLK_TCK)

for p in "$camera" "$rkv"; do
	[ -x "$p" ] || { echo "bench-preview: $p not built (make)" >&2; exit 1; }
done

"$camera" --name "$name" --source testpattern --size 1920x1080 --fps 30 --format NV12 \
	--preview 640x360 --preview-fps 15 --backend cpu --quiet >/dev/null 2>&1 &
cam=$!
trap 'kill $full $prev $cam 2>/dev/null; wait 2>/dev/null' EXIT INT TERM
full=; prev=
i=0
until "$rkv" status "$name" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 50 ] || { echo "bench-preview: the camera did not start" >&2; exit 1; }
	sleep 0.1
done
"$rkv" watch "$name" --policy latest >/dev/null &
full=$!
"$rkv" watch "$name.preview" --policy latest >/dev/null &
prev=$!

ticks() { # utime + stime of process $1, in clock ticks
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}
encoded() {
	"$rkv" status "$name" --json | sed 's/.*"encoded":\([0-9]*\).*/\1/'
}

# one round: the camera's share of one core over $secs, and previews a second
measure() {
	"$rkv" preview "$name" "$1" >/dev/null
	sleep 1 # the worker attaches (or leaves) within 0.2 s; let it settle
	e0=$(encoded); t0=$(ticks $cam)
	sleep "$secs"
	t1=$(ticks $cam); e1=$(encoded)
	echo "$t0 $t1 $e0 $e1" | awk -v tck="$tck" -v s="$secs" \
		'{ printf "%.2f %.1f\n", 100 * ($2 - $1) / tck / s, ($4 - $3) / s }'
}

echo "camera: 1920x1080 NV12 30 fps, preview 640x360 at 15 fps (cpu), $rounds x ${secs} s each way"
echo "machine: $(nproc) cpus, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
sum_on=0; sum_off=0
r=1
while [ $r -le "$rounds" ]; do
	set -- $(measure on); on=$1; rate=$2
	set -- $(measure off); off=$1
	echo "round $r: preview on $on% of a core ($rate previews/s), off $off%"
	sum_on=$(echo "$sum_on $on" | awk '{ print $1 + $2 }')
	sum_off=$(echo "$sum_off $off" | awk '{ print $1 + $2 }')
	r=$((r + 1))
done
echo "$sum_on $sum_off $rounds" | awk '{ printf "mean: on %.2f%%, off %.2f%%, the preview adds %.2f%% of one core (target < 2%%)\n", $1 / $3, $2 / $3, ($1 - $2) / $3 }'
