#!/bin/sh
# Compile and run the README's C example exactly as written.
#
# usage: readme_example.sh README.md LIBRARY INCLUDE_DIR
#   README.md    the file holding the example between the lines
#                <!-- example:begin --> and <!-- example:end -->
#   LIBRARY      the built library (e.g. build/src/librkv.so.1.0.0)
#   INCLUDE_DIR  the directory holding rkv/pool.h
#
# The example is linked against the library with an rpath, so the test runs
# against this build, not an installed copy. A library built with a sanitizer
# needs the sanitizer's runtime in the program too: the script looks for the
# runtime's symbols in the library and compiles the example with the matching
# -fsanitize flags (and with clang when clang built the library).
# Exit: 0 pass, 1 fail, 77 skip (no C compiler).
set -u

readme=${1:?usage: readme_example.sh README.md LIBRARY INCLUDE_DIR}
lib=${2:?missing LIBRARY}
incdir=${3:?missing INCLUDE_DIR}

fail() {
	echo "readme_example: FAIL: $*" >&2
	exit 1
}

[ -f "$readme" ] || fail "no README at $readme"
[ -f "$lib" ] || fail "no library at $lib"
[ -f "$incdir/rkv/pool.h" ] || fail "no rkv/pool.h under $incdir"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rkv-readme.XXXXXX") || fail "mktemp"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# The lines strictly between the markers, without the ``` fence lines.
awk '
	/^<!-- example:end -->/   { inside = 0; ends++ }
	inside && !/^```/         { print }
	/^<!-- example:begin -->/ { inside = 1; begins++ }
	END { if (begins != 1 || ends != 1) exit 3 }
' "$readme" >"$tmp/example.c" ||
	fail "README must hold exactly one <!-- example:begin --> ... <!-- example:end --> block"
grep -q 'main' "$tmp/example.c" || fail "the example between the markers has no main()"

# Which compiler, which sanitizer runtime.
cc=${CC:-cc}
if command -v readelf >/dev/null 2>&1 &&
	readelf -p .comment "$lib" 2>/dev/null | grep -q 'clang version' &&
	command -v clang >/dev/null 2>&1; then
	cc=clang
fi
command -v "$cc" >/dev/null 2>&1 || { echo "readme_example: SKIP: no C compiler ($cc)"; exit 77; }

undef=$(nm -D --undefined-only "$lib" 2>/dev/null; ldd "$lib" 2>/dev/null)
san=
case $undef in *__tsan_* | *libtsan*) san=thread ;; esac
case $undef in *__asan_* | *libasan*) san=address ;; esac
case $undef in *__ubsan_* | *libubsan*) san=${san:+$san,}undefined ;; esac
sanflags=
[ -n "$san" ] && sanflags="-fsanitize=$san -fno-omit-frame-pointer"

libdir=$(cd "$(dirname "$lib")" && pwd) || fail "cannot enter $(dirname "$lib")"
# shellcheck disable=SC2086 # $sanflags is a list of flags
"$cc" -std=c17 -Wall -Wextra -Werror $sanflags -I"$incdir" \
	-o "$tmp/example" "$tmp/example.c" "$lib" -Wl,-rpath,"$libdir" \
	>"$tmp/cc.log" 2>&1 || {
	cat "$tmp/cc.log" >&2
	fail "the example does not compile with $cc${san:+ (-fsanitize=$san)}"
}

timeout 30 "$tmp/example" >"$tmp/out" 2>"$tmp/err"
rc=$?
cat "$tmp/out"
cat "$tmp/err" >&2
[ "$rc" -eq 124 ] && fail "the example did not finish within 30 s"
[ "$rc" -eq 0 ] || fail "the example exited with status $rc"
[ -s "$tmp/out" ] || fail "the example printed nothing"
echo "readme_example: ok (compiled with $cc${san:+ -fsanitize=$san}, exit 0)"
exit 0
