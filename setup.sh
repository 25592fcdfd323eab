#!/bin/sh
# One command on a fresh Debian 12 machine: install the Debian packages the
# build needs (when they are missing), build everything, and run rkvd, the
# board's daemon, with its built-in camera (a moving test pattern) and its
# web page on http://127.0.0.1:8080/ (the URL is printed).
#
#   ./setup.sh                     the built-in board
#   ./setup.sh -c examples/config/usb-camera.yaml   a board of your own
#
# Missing packages are installed with apt-get when run as root, through sudo
# when it is available; otherwise the script prints the command to run and
# exits 1. Running it again installs nothing and rebuilds only what changed.
# RKV_SETUP_NO_DEMO=1 stops after the build. The pool demo (a camera and
# consumers printing their stats) is `make demo`.
set -eu

cd "$(dirname "$0")"

# Build and test: gcc make meson ninja-build pkg-config python3.
# CI's extra jobs (.ci/run): clang and its sanitizer runtimes, valgrind, g++.
# The media source (files, RTSP, HTTP) and its tests: GStreamer, its
# plugins and tools, gst-rtsp-server (.ci/run says which does what).
packages="gcc make meson ninja-build pkg-config python3 clang libclang-rt-14-dev valgrind g++ libdrm-dev libjson-c-dev
	libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
	gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools"
# The image layer (src/imgops): libyuv, TurboJPEG and libpng.
packages="$packages libyuv-dev libturbojpeg0-dev libpng-dev"
# The daemon (rkvd): its config is YAML, read with libyaml; its HTTP API
# (src/daemon/http.c) is served with libmicrohttpd; the rkv tool reaches
# it with libcurl.
packages="$packages libyaml-dev libmicrohttpd-dev libcurl4-openssl-dev"
# The web page's test (tests/web_test.py, in make test): headless chromium.
packages="$packages chromium chromium-driver python3-selenium"
# The Python binding (python/, built where numpy and Python's headers are).
packages="$packages python3-numpy python3-dev python3-pytest"

missing=
for pkg in $packages; do
	# dpkg-query prints "install ok installed" for an installed package.
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case $status in
	*" installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done
missing=${missing# }

if [ -n "$missing" ]; then
	echo "setup: missing Debian packages: $missing"
	if [ "$(id -u)" -eq 0 ]; then
		as_root=
	elif command -v sudo >/dev/null 2>&1; then
		as_root=sudo
	else
		echo "setup: not root and no sudo; as root, run:" >&2
		echo "    apt-get update && apt-get install -y $missing" >&2
		echo "then run ./setup.sh again." >&2
		exit 1
	fi
	# shellcheck disable=SC2086 # $as_root is empty or "sudo"; $missing is a list
	$as_root apt-get update
	# shellcheck disable=SC2086
	$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y $missing
else
	echo "setup: every needed Debian package is installed"
fi

make

if [ "${RKV_SETUP_NO_DEMO:-0}" = 1 ]; then
	echo "setup: built; run the board with: build/src/rkvd (the pool demo: make demo)"
	exit 0
fi
echo "setup: running rkvd (Ctrl-C stops it and its cameras; build/src/rkvd --help for its options)"
exec build/src/rkvd "$@"
