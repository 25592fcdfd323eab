#!/bin/bash
# Prepare what tests/vm/run.sh needs to boot a Debian 12 kernel under qemu:
#
#   tests/vm/setup.sh [--refresh]
#
# 1. Installs (apt-get, when missing) qemu-system-x86, busybox-static, cpio,
#    kmod (depmod/modprobe, used on the host only), gcc, libc6-dev and
#    libdrm-dev (DRM uapi headers: Debian's linux-libc-dev does not ship them).
# 2. Downloads the Debian kernel package that linux-image-amd64 currently
#    points to with `apt-get download` and unpacks it with `dpkg -x` into the
#    cache directory. It is never installed on the host: no bootloader or
#    initramfs hooks run, /boot and /lib/modules are left alone.
# 3. Runs depmod on the unpacked tree (the .deb ships no modules.dep).
# 4. Unpacks the kernel's ELF image (vmlinux) from the bzImage, so that qemu
#    can boot it directly through its PVH entry point: no decompression and
#    no real-mode setup in the guest, several seconds less under TCG.
#
# The cache directory is $RKV_VM_CACHE, by default build/vm in the
# repository. Once a kernel is unpacked there, later runs only check that it
# is complete and return (no apt-get, no network). --refresh (or
# RKV_VM_REFRESH=1) looks up the current kernel package again and unpacks it
# if it changed. RKV_VM_KERNEL_PKG=linux-image-X.Y.Z-N-amd64 picks a
# concrete package instead of the one linux-image-amd64 depends on.
#
# On success the cache holds kernel.env (KVER, VMLINUZ, VMLINUX, MODROOT,
# KPKG, KPKG_VERSION), which run.sh reads.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${RKV_VM_CACHE:-$repo/build/vm}
refresh=${RKV_VM_REFRESH:-0}

for arg in "$@"; do
	case $arg in
	--refresh) refresh=1 ;;
	-h | --help)
		sed -n '2,/^set -e/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "setup.sh: unknown argument: $arg (try --help)" >&2
		exit 2
		;;
	esac
done

log() { echo "vm-setup: $*"; }
die() {
	echo "vm-setup: error: $*" >&2
	exit 1
}

export DEBIAN_FRONTEND=noninteractive
apt_updated=0
apt_update() {
	if [ "$apt_updated" = 0 ]; then
		log "apt-get update"
		apt-get update -qq || die "apt-get update failed"
		apt_updated=1
	fi
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "not root and no sudo: run as root: $*"
	fi
}

# ---- 1. host packages --------------------------------------------------------

packages="qemu-system-x86 busybox-static cpio kmod xz-utils gcc libc6-dev libdrm-dev"
missing=
for pkg in $packages; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case $status in
	*" installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done
if [ -n "$missing" ]; then
	log "installing:$missing"
	if [ "$(id -u)" -ne 0 ]; then
		as_root apt-get update -qq || die "apt-get update failed"
		apt_updated=1
	else
		apt_update
	fi
	# shellcheck disable=SC2086 # a list of package names
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $missing >/dev/null ||
		die "apt-get install$missing failed"
else
	log "host packages present: $packages"
fi
for tool in qemu-system-x86_64 busybox cpio depmod modprobe gzip xz; do
	command -v "$tool" >/dev/null 2>&1 || [ -x "/sbin/$tool" ] ||
		die "$tool not found after installing packages"
done
# busybox-static's binary; run.sh copies it into the guest.
[ -x /bin/busybox ] || die "/bin/busybox missing (busybox-static)"

# ---- 2. the kernel -----------------------------------------------------------

# Bumped when the layout of an unpacked kernel changes: older ones are redone.
format=2

mkdir -p "$cache" || die "cannot create cache directory $cache"
cache=$(cd "$cache" && pwd)
# One setup at a time per cache (two CI jobs sharing it, say).
exec 9>"$cache/.setup.lock"
flock 9 || die "cannot lock $cache/.setup.lock"
envfile=$cache/kernel.env

kernel_ok() { # kernel.env names a complete unpacked kernel
	[ -f "$envfile" ] || return 1
	(
		# shellcheck disable=SC1090
		. "$envfile"
		[ -n "${KVER:-}" ] && [ -f "$VMLINUZ" ] &&
			{ [ -z "${VMLINUX-x}" ] || [ -f "${VMLINUX:-}" ]; } &&
			[ -f "$MODROOT/lib/modules/$KVER/modules.dep" ] &&
			[ "$(cat "$MODROOT/.complete" 2>/dev/null)" = "$format" ]
	)
}

if [ "$refresh" != 1 ] && kernel_ok; then
	# shellcheck disable=SC1090
	. "$envfile"
	log "kernel $KVER ($KPKG $KPKG_VERSION) already in $cache"
	exit 0
fi

apt_update
if [ -n "${RKV_VM_KERNEL_PKG:-}" ]; then
	kpkg=$RKV_VM_KERNEL_PKG
else
	# linux-image-amd64 is a metapackage: Depends: linux-image-6.1.0-N-amd64.
	meta=$(apt-cache show --no-all-versions linux-image-amd64) ||
		die "apt-cache show linux-image-amd64 failed"
	kpkg=$(sed -n 's/^Depends: *\(linux-image-[^ ,]*\).*/\1/p' <<<"$meta")
	kpkg=${kpkg%%$'\n'*}
	[ -n "$kpkg" ] || die "cannot resolve the package linux-image-amd64 depends on"
fi
kver_pkg=$(apt-cache policy "$kpkg" | sed -n 's/^ *Candidate: *//p')
[ -n "$kver_pkg" ] && [ "$kver_pkg" != "(none)" ] ||
	die "no candidate version for $kpkg (apt-cache policy $kpkg)"

# The bzImage's payload is the compressed ELF vmlinux: the x86 boot protocol
# header gives setup_sects (0x1f1), payload_offset (0x248, from the start of
# the protected-mode code) and payload_length (0x24c). Debian compresses it
# with xz (CONFIG_KERNEL_XZ); other formats are left alone (run.sh then boots
# the bzImage).
extract_vmlinux() {
	local bz=$1 out=$2 sects off len start
	sects=$(od -An -tu1 -j $((0x1f1)) -N1 "$bz" | tr -d ' ')
	[ "$sects" != 0 ] || sects=4
	off=$(od -An -tu4 -j $((0x248)) -N4 "$bz" | tr -d ' ')
	len=$(od -An -tu4 -j $((0x24c)) -N4 "$bz" | tr -d ' ')
	start=$(((sects + 1) * 512 + off))
	if [ "$(od -An -tx1 -j "$start" -N6 "$bz" | tr -d ' ')" != fd377a585a00 ]; then
		log "kernel payload is not xz: booting the bzImage"
		return 0
	fi
	dd if="$bz" iflag=skip_bytes,count_bytes skip="$start" count="$len" bs=1M status=none |
		xz -dc --single-stream >"$out.tmp" ||
		die "cannot decompress the kernel payload"
	[ "$(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ] ||
		die "the decompressed kernel payload is not an ELF file"
	mv "$out.tmp" "$out"
	log "unpacked vmlinux ($(($(stat -c %s "$out") / 1048576)) MiB) for PVH boot"
}

kdir=$cache/kernel/${kpkg}_$kver_pkg
if [ "$(cat "$kdir/.complete" 2>/dev/null)" = "$format" ]; then
	log "$kpkg $kver_pkg already unpacked"
else
	log "downloading $kpkg $kver_pkg"
	rm -rf "$kdir" "$cache/dl"
	mkdir -p "$cache/dl" "$kdir"
	# APT::Sandbox::User=root: the download directory is not the _apt
	# user's; apt still checks the file against the signed Release file.
	(cd "$cache/dl" && apt-get download -qq -o APT::Sandbox::User=root "$kpkg=$kver_pkg") ||
		die "apt-get download $kpkg=$kver_pkg failed"
	deb=$(ls "$cache"/dl/*.deb)
	[ -f "$deb" ] || die "no .deb downloaded"
	log "unpacking $(basename "$deb")"
	dpkg-deb -x "$deb" "$kdir" || die "dpkg-deb -x $deb failed"
	rm -rf "$cache/dl"
	kvers=$(ls "$kdir/lib/modules")
	[ "$(echo "$kvers" | wc -l)" = 1 ] || die "expected one modules tree in $kdir, got: $kvers"
	[ -f "$kdir/boot/vmlinuz-$kvers" ] || die "no boot/vmlinuz-$kvers in $kpkg"
	log "depmod $kvers"
	depmod -b "$kdir" "$kvers" || die "depmod failed"
	extract_vmlinux "$kdir/boot/vmlinuz-$kvers" "$kdir/boot/vmlinux-$kvers"
	echo "$format" >"$kdir/.complete"
fi

kver=$(ls "$kdir/lib/modules")
tmp=$envfile.tmp
{
	echo "# written by tests/vm/setup.sh"
	echo "KVER='$kver'"
	echo "KPKG='$kpkg'"
	echo "KPKG_VERSION='$kver_pkg'"
	echo "VMLINUZ='$kdir/boot/vmlinuz-$kver'"
	if [ -f "$kdir/boot/vmlinux-$kver" ]; then
		echo "VMLINUX='$kdir/boot/vmlinux-$kver'"
	else
		echo "VMLINUX="
	fi
	echo "MODROOT='$kdir'"
} >"$tmp"
mv "$tmp" "$envfile"

# Older unpacked kernels are no longer used: drop them.
for old in "$cache"/kernel/*; do
	[ "$old" = "$kdir" ] || rm -rf "$old"
done
kernel_ok || die "kernel cache incomplete after setup"
log "kernel $kver ($kpkg $kver_pkg) ready in $cache"
