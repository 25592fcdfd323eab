#!/bin/bash
# Run one program inside a Debian 12 kernel booted under qemu, with the vivid
# (V4L2 test driver) and vgem (DRM, PRIME/DMA-BUF) modules loaded:
#
#   tests/vm/run.sh [options] -- PROGRAM [ARGS...]
#
# Options:
#   --timeout S     give up after S seconds per boot (default 120 with KVM,
#                   600 with TCG); run.sh then exits 124
#   --mem M         guest memory in MiB (default 512)
#   --smp N         guest CPUs (default 2)
#   --add PATH      copy a file or directory into the guest at the same
#                   absolute path (repeatable); ELF executables found in it
#                   get their shared libraries too
#   --env NAME=VAL  set an environment variable for PROGRAM (repeatable)
#   --modules LIST  modules to load, with their dependencies (default
#                   "vivid vgem"; "" loads none)
#   --verbose       show the kernel's boot messages (drops "quiet")
#
# PROGRAM is copied into the guest at its absolute host path with every
# shared library ldd lists (host and guest userland are both Debian 12), and
# is run as root with ARGS, from the host's current directory (created empty
# in the guest; --add the files it needs), stdin from /dev/null. The guest
# has /proc, /sys, devtmpfs on /dev, /dev/shm, a writable / and /tmp, and
# busybox as its only userland. Its console (PROGRAM's output included)
# streams to stdout and is kept in $RKV_VM_CACHE/last-console.log.
#
# Exit status: PROGRAM's own (so 77, "skipped", passes through), or
#   124  the guest did not finish within the timeout
#   125  the harness failed: bad usage, qemu did not start, the guest did
#        not boot, a module did not load, or the guest ended without
#        reporting a status
#   130  interrupted (SIGINT/SIGTERM/SIGHUP); qemu is stopped either way
#
# Environment:
#   RKV_VM_CACHE       where setup.sh put the kernel (default build/vm);
#                      per-run files go to a runs/ directory inside it
#   RKV_VM_ACCEL       kvm, tcg or kvm:tcg (KVM, TCG when KVM fails to start
#                      or reach /init within RKV_VM_KVM_BOOT_S, default 30).
#                      Default: kvm:tcg when /dev/kvm is usable, else tcg
#   RKV_VM_VIVID_OPTS  vivid's module options (default below)
#   RKV_VM_PVH=0       boot the bzImage instead of the unpacked vmlinux
#   RKV_VM_KEEP=1      keep the per-run directory (initramfs, logs)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${RKV_VM_CACHE:-$repo/build/vm}

# vivid: two instances, each with only a video capture node (node_types bit
# 0); the first single-planar (multiplanar=1) with the vmalloc allocator,
# the second multi-planar (multiplanar=2) with dma-contig (allocators=1),
# the allocator the boards' ISP drivers use. Input 0 of each is the
# "webcam" input (discrete sizes up to 1920x1080 and beyond).
vivid_opts=${RKV_VM_VIVID_OPTS-n_devs=2 node_types=0x1,0x1 multiplanar=1,2 allocators=0,1}

timeout_s=
mem=512
smp=2
adds=()
envs=()
modules="vivid vgem"
verbose=0

usage() {
	sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}
die() {
	echo "vm-run: error: $*" >&2
	exit 125
}
need_arg() { [ $# -ge 2 ] || die "$1 needs an argument"; }

while [ $# -gt 0 ]; do
	case $1 in
	--timeout) need_arg "$@"; timeout_s=$2; shift 2 ;;
	--mem) need_arg "$@"; mem=$2; shift 2 ;;
	--smp) need_arg "$@"; smp=$2; shift 2 ;;
	--add) need_arg "$@"; adds+=("$2"); shift 2 ;;
	--env) need_arg "$@"; envs+=("$2"); shift 2 ;;
	--modules) need_arg "$@"; modules=$2; shift 2 ;;
	--verbose) verbose=1; shift ;;
	-h | --help) usage; exit 0 ;;
	--) shift; break ;;
	-*) die "unknown option $1 (try --help)" ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || die "no PROGRAM given (usage: run.sh [options] -- PROGRAM [ARGS...])"
for n in "$mem" "$smp" ${timeout_s:+"$timeout_s"}; do
	case $n in '' | *[!0-9]*) die "not a positive number: $n" ;; esac
done
for e in "${envs[@]+"${envs[@]}"}"; do
	case $e in [A-Za-z_]*=*) ;; *) die "--env wants NAME=VALUE, got: $e" ;; esac
	case ${e%%=*} in *[!A-Za-z0-9_]*) die "bad variable name in --env $e" ;; esac
done

prog=$1
case $prog in
*/*) ;;
*) prog=$(type -P "$1") || die "PROGRAM not found in PATH: $1" ;;
esac
shift
[ -f "$prog" ] && [ -x "$prog" ] || die "PROGRAM is not an executable file: $prog"
prog_abs=$(realpath "$prog")

# ---- the kernel from setup.sh ------------------------------------------------

[ -f "$cache/kernel.env" ] || die "no kernel in $cache: run tests/vm/setup.sh first"
# shellcheck disable=SC1091
. "$cache/kernel.env"
[ -f "$VMLINUZ" ] && [ -f "$MODROOT/lib/modules/$KVER/modules.dep" ] ||
	die "kernel cache in $cache is incomplete: run tests/vm/setup.sh"
for tool in qemu-system-x86_64 cpio gzip ldd; do
	command -v "$tool" >/dev/null || die "$tool not found: run tests/vm/setup.sh"
done
[ -x /bin/busybox ] && [[ $'\n'$(/bin/busybox --list)$'\n' == *$'\n'insmod$'\n'* ]] ||
	die "/bin/busybox (busybox-static) not found: run tests/vm/setup.sh"
modprobe=$(command -v modprobe || echo /sbin/modprobe)
[ -x "$modprobe" ] || die "modprobe (kmod) not found: run tests/vm/setup.sh"

# KVM when /dev/kvm can run a stock kernel, else TCG (slower, same result).
# A /dev/kvm served by kvm_pvm (PVM, "pagetable-based virtual machine", found
# in some cloud sandboxes) only runs PVM-enabled guest kernels at speed: a
# Debian kernel spends minutes in its early boot there, so it counts as
# unusable. With RKV_VM_ACCEL unset, a KVM boot that fails to start or does
# not reach /init within $RKV_VM_KVM_BOOT_S seconds (default 30) is retried
# once with TCG.
kvm_unusable() { # prints why /dev/kvm cannot be used, or nothing
	if [ ! -e /dev/kvm ]; then
		echo "no /dev/kvm"
	elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo "/dev/kvm is not readable and writable"
	elif [ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
		echo "/dev/kvm is PVM (kvm_pvm), which cannot boot a stock Debian kernel at speed"
	fi
}
accel=${RKV_VM_ACCEL:-}
accel_note=
if [ -z "$accel" ]; then
	accel_note=$(kvm_unusable)
	if [ -z "$accel_note" ]; then accel=kvm:tcg; else accel=tcg; fi
fi
accel_fallback=0
case $accel in
kvm | tcg) ;;
kvm:tcg) accel=kvm accel_fallback=1 ;;
*) die "RKV_VM_ACCEL must be kvm, tcg or kvm:tcg, not $accel" ;;
esac
kvm_boot_s=${RKV_VM_KVM_BOOT_S:-30}
case $kvm_boot_s in '' | *[!0-9]*) die "RKV_VM_KVM_BOOT_S is not a number: $kvm_boot_s" ;; esac
user_timeout=$timeout_s

# PVH entry into the unpacked vmlinux when setup.sh made one (no
# decompression, no real-mode setup), else the bzImage. RKV_VM_PVH=0 forces
# the bzImage.
kernel=$VMLINUZ
if [ "${RKV_VM_PVH:-1}" = 1 ] && [ -n "${VMLINUX:-}" ] && [ -f "$VMLINUX" ]; then
	kernel=$VMLINUX
fi

# ---- per-run directory and cleanup -------------------------------------------

mkdir -p "$cache/runs" || die "cannot create $cache/runs"
# Per-run directories of runs that were killed outright (SIGKILL), a day old.
find "$cache/runs" -mindepth 1 -maxdepth 1 -name 'run.*' -mmin +1440 -exec rm -rf {} + 2>/dev/null || true
work=$(mktemp -d "$cache/runs/run.XXXXXX") || die "mktemp failed"
qpid=
spid=
# SIGTERM to qemu, SIGKILL if it is still there 2 s later.
stop_qemu() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null || true
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$qpid" 2>/dev/null || return 0
			sleep 0.2
		done
		kill -KILL "$qpid" 2>/dev/null || true
	fi
}
# shellcheck disable=SC2317 # called from the traps
cleanup() {
	if [ -n "$qpid" ]; then
		stop_qemu
		wait "$qpid" 2>/dev/null || true
	fi
	if [ -n "$spid" ]; then
		# The streaming pipeline ends once qemu is gone (tail --pid);
		# do not wait forever if it does not.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$spid" 2>/dev/null || break
			sleep 0.1
		done
		kill "$spid" 2>/dev/null || true
		wait "$spid" 2>/dev/null || true
	fi
	if [ "${RKV_VM_KEEP:-0}" = 1 ]; then
		echo "vm-run: kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'echo "vm-run: interrupted, stopping qemu" >&2; exit 130' INT TERM HUP

# ---- initramfs ---------------------------------------------------------------

t0=$(date +%s%N)
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,etc/rkv-vm} ||
	die "cannot create $root"
cp /bin/busybox "$root/bin/busybox" || die "cannot copy busybox"

# Copy a host file to the same path in the guest (following symlinks).
put() {
	local src=$1 dst=$root$2
	[ -e "$dst" ] && return 0
	mkdir -p "$(dirname "$dst")" && cp -L "$src" "$dst" || die "cannot copy $src into the initramfs"
}

# An ELF executable's shared libraries and loader, as ldd resolves them.
put_libs() {
	local f=$1 out line lib
	[ "$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')" = 7f454c46 ] || return 0
	if ! out=$(ldd "$f" 2>&1); then
		case $out in
		*"not a dynamic executable"* | *"statically linked"*) return 0 ;;
		*) die "ldd $f failed: $out" ;;
		esac
	fi
	case $out in *"not found"*) die "$f: missing libraries: $out" ;; esac
	while read -r line; do
		lib=
		case $line in
		*" => /"*) lib=${line#* => }; lib=${lib%% (*} ;;
		/*) lib=${line%% (*} ;;
		esac
		[ -n "$lib" ] && put "$lib" "$lib"
	done <<<"$out"
	return 0
}

put "$prog_abs" "$prog_abs"
put_libs "$prog_abs"

for a in "${adds[@]+"${adds[@]}"}"; do
	[ -e "$a" ] || die "--add $a: no such file or directory"
	a_abs=$(realpath "$a")
	mkdir -p "$root$(dirname "$a_abs")" || die "cannot create $(dirname "$a_abs") in the initramfs"
	cp -a "$a_abs" "$root$a_abs" || die "cannot copy $a into the initramfs"
	while IFS= read -r -d '' f; do
		put_libs "$f"
	done < <(find "$a_abs" -type f -perm -u+x -print0)
done

# Modules in dependency order, as modprobe resolves them on the unpacked tree.
: >"$root/etc/rkv-vm/modules"
declare -A seen=()
for m in $modules; do
	deps=$("$modprobe" -d "$MODROOT" -S "$KVER" --show-depends "$m" 2>&1) ||
		die "module $m: $deps"
	while read -r kind path _; do
		[ "$kind" = insmod ] || continue
		rel=${path#"$MODROOT"/lib/modules/"$KVER"/}
		[ -z "${seen[$rel]:-}" ] || continue
		seen[$rel]=1
		name=$(basename "$rel" .ko)
		params=
		[ "$name" = vivid ] && params=$vivid_opts
		put "$path" "/lib/modules/$KVER/$rel"
		printf '%s %s\n' "$rel" "$params" >>"$root/etc/rkv-vm/modules"
	done <<<"$deps"
done

# The command: a script with PROGRAM and ARGS single-quoted for the shell.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
{
	echo "#!/bin/sh"
	for e in "${envs[@]+"${envs[@]}"}"; do
		echo "export ${e%%=*}=$(q "${e#*=}")"
	done
	echo "mkdir -p $(q "$PWD") && cd $(q "$PWD") || exit 125"
	printf 'exec %s' "$(q "$prog")"
	for a in "$@"; do printf ' %s' "$(q "$a")"; done
	echo " </dev/null"
} >"$root/etc/rkv-vm/cmd"
chmod +x "$root/etc/rkv-vm/cmd"

# A marker no program prints by chance.
token=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
marker="@@RKV-VM:$token"

cat >"$root/init" <<EOF
#!/bin/busybox sh
# Generated by tests/vm/run.sh: PID 1 of the test guest.
echo "$marker:init@@"
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp
fail() {
	echo "$marker:setup-failed:\$*@@"
	sync
	poweroff -f
	sleep 5
	reboot -f
}
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts || fail "mount /dev/pts"
mount -t tmpfs -o mode=1777 tmpfs /dev/shm || fail "mount /dev/shm"
# / is the initramfs, already in memory and writable: /tmp stays on it (so
# that files copied under /tmp are not hidden by a mount).
chmod 1777 /tmp
while read -r mod params; do
	insmod "/lib/modules/\$(uname -r)/\$mod" \$params || fail "insmod \$mod \$params"
done </etc/rkv-vm/modules
if dmesg | grep -q 'Hypervisor detected: KVM'; then accel=kvm; else accel=tcg; fi
echo "rkv-vm: kernel \$(uname -r), \$(nproc) cpus, \$(sed -n 's/^MemTotal: *//p' /proc/meminfo) RAM, accel \$accel, modules loaded at \$(cut -d' ' -f1 /proc/uptime) s"
for d in /sys/class/video4linux/* /sys/class/drm/card*; do
	[ -e "\$d" ] || continue
	name=\$(cat "\$d/name" 2>/dev/null || basename "\$(readlink -f "\$d/device")")
	echo "rkv-vm: /dev/\${d##*/}\${name:+: \$name}"
done
echo "$marker:start@@"
/etc/rkv-vm/cmd
rc=\$?
echo
echo "$marker:status=\$rc@@"
sync
poweroff -f
sleep 5
reboot -f
EOF
chmod +x "$root/init"

initrd=$work/initrd.img
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc -R 0:0 --quiet | gzip -1 >"$initrd") ||
	die "building the initramfs failed"
t1=$(date +%s%N)
echo "vm-run: kernel $KVER ($KPKG $KPKG_VERSION, $(basename "$kernel")), initramfs" \
	"$(($(stat -c %s "$initrd") / 1024)) KiB built in $(((t1 - t0) / 1000000)) ms"

# ---- boot --------------------------------------------------------------------

cmdline="console=ttyS0,115200 panic=-1 oops=panic rdinit=/init"
[ "$verbose" = 1 ] || cmdline="$cmdline quiet"

# One boot with accelerator $1. Sets: outcome (status, setup-failed,
# timeout, kvm-retry or boot-failure), status, failed, qrc, elapsed, log.
boot() {
	local acc=$1 cpu tmo start deadline done_at='' timed_out=0 slow_kvm=0
	if [ "$acc" = kvm ]; then cpu=host; else cpu=max; fi
	tmo=$user_timeout
	if [ -z "$tmo" ]; then
		if [ "$acc" = kvm ]; then tmo=120; else tmo=600; fi
	fi
	log=$work/console-$acc.log
	: >"$log"
	echo "vm-run: booting with $acc, timeout $tmo s${accel_note:+ ($accel_note)}"
	qemu-system-x86_64 \
		-machine q35,accel="$acc" -cpu "$cpu" -smp "$smp" -m "$mem" \
		-nodefaults -no-user-config -display none -monitor none -no-reboot \
		-chardev file,id=con,path="$log",append=on -serial chardev:con \
		-kernel "$kernel" -initrd "$initrd" -append "$cmdline" \
		</dev/null >"$work/qemu-$acc.out" 2>&1 &
	qpid=$!

	# Stream the console (without the serial line's carriage returns).
	tail -n +1 -s 0.1 -f --pid="$qpid" "$log" | sed -u 's/\r$//' &
	spid=$!

	start=$SECONDS
	deadline=$((SECONDS + tmo))
	while kill -0 "$qpid" 2>/dev/null; do
		if [ -z "$done_at" ] && grep -qa "$marker:\(status=[0-9]*\|setup-failed:.*\)@@" "$log"; then
			done_at=$SECONDS
		fi
		# The guest powers off right after reporting: give it 10 s.
		if [ -n "$done_at" ] && [ $((SECONDS - done_at)) -ge 10 ]; then
			echo "vm-run: warning: guest reported but did not power off; killing qemu" >&2
			break
		fi
		if [ "$acc" = kvm ] && [ "$accel_fallback" = 1 ] &&
			[ $((SECONDS - start)) -ge "$kvm_boot_s" ] && ! grep -qa "$marker:init@@" "$log"; then
			slow_kvm=1
			break
		fi
		if [ "$SECONDS" -ge "$deadline" ]; then
			timed_out=1
			break
		fi
		sleep 0.1
	done
	qrc=0
	stop_qemu
	wait "$qpid" 2>/dev/null || qrc=$?
	qpid=
	wait "$spid" 2>/dev/null || true
	spid=
	elapsed=$((SECONDS - start))
	cp "$log" "$cache/last-console.log" 2>/dev/null || true

	status=$(tr -d '\r' <"$log" | sed -n "s/.*$marker:status=\([0-9]*\)@@.*/\1/p" | tail -n 1)
	failed=$(tr -d '\r' <"$log" | sed -n "s/.*$marker:setup-failed:\(.*\)@@.*/\1/p" | tail -n 1)
	if [ -n "$status" ]; then
		outcome=status
	elif [ -n "$failed" ]; then
		outcome=setup-failed
	elif [ "$slow_kvm" = 1 ]; then
		accel_note="KVM did not reach /init within $kvm_boot_s s"
		outcome=kvm-retry
	elif [ "$timed_out" = 1 ]; then
		outcome=timeout
	elif [ "$acc" = kvm ] && [ "$accel_fallback" = 1 ] && ! grep -qa "$marker:init@@" "$log"; then
		accel_note="qemu with KVM stopped before /init (status $qrc): $(tail -n 1 "$work/qemu-$acc.out" 2>/dev/null)"
		outcome=kvm-retry
	else
		outcome=boot-failure
	fi
}

boot "$accel"
if [ "$outcome" = kvm-retry ]; then
	echo "vm-run: warning: $accel_note; retrying with TCG" >&2
	accel=tcg
	boot tcg
fi

case $outcome in
status)
	echo "vm-run: PROGRAM exited with status $status ($accel, guest ran $elapsed s)"
	exit "$status"
	;;
esac
if grep -qv 'terminating on signal' "$work/qemu-$accel.out"; then
	echo "vm-run: qemu said:" >&2
	grep -v 'terminating on signal' "$work/qemu-$accel.out" | sed 's/^/    /' >&2 || true
fi
case $outcome in
setup-failed)
	echo "vm-run: error: guest setup failed: $failed" >&2
	exit 125
	;;
timeout)
	echo "vm-run: error: TIMEOUT: no status from the guest within $elapsed s ($accel;" \
		"console: $cache/last-console.log)" >&2
	exit 124
	;;
esac
echo "vm-run: error: BOOT FAILURE: qemu exited (status $qrc) after $elapsed s without a status" \
	"from the guest ($accel; console: $cache/last-console.log)" >&2
exit 125
