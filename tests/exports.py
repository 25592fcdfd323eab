#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The shared library exports the public API and nothing else.

usage: exports.py --nm NM --map MAP LIBRARY HEADER...

  NM       nm for the library's architecture (in a cross build, the cross
           nm the cross file names); empty when there is none: skip
  MAP      the version script (src/librkv.map); the version nodes it
           defines are allowed as exports (ld adds one absolute symbol per
           node, e.g. "A RKV_1")
  LIBRARY  the built shared library
  HEADER   the public headers (include/rkv/*.h)

Reads `NM -D --defined-only LIBRARY` and fails when
  - an exported symbol does not start with rkv_, or starts with rkv__
    (the internal names), or is not a function some public header declares;
  - a function declared in a public header is not exported.

Exit: 0 pass, 1 fail, 77 skip (no nm).
"""
import argparse
import re
import shutil
import subprocess
import sys


def fail(lines):
    for line in lines:
        print("exports: FAIL: " + line, file=sys.stderr)
    sys.exit(1)


def version_nodes(map_path):
    """Names of the version nodes a version script defines ("RKV_1 {")."""
    with open(map_path, encoding="utf-8") as f:
        text = re.sub(r"/\*.*?\*/", " ", f.read(), flags=re.S)
    text = re.sub(r"#[^\n]*", " ", text)
    return set(re.findall(r"([A-Za-z_][A-Za-z0-9_.]*)\s*\{", text))


def declared_functions(header_paths):
    """Functions the headers declare: rkv_ names followed by "(", outside
    comments and preprocessor lines, except static (inline) ones and
    typedefs of function types."""
    names = set()
    for path in header_paths:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
        for stmt in re.split(r"[;{}]", text):
            if re.search(r"\b(static|typedef)\b", stmt):
                continue
            names.update(re.findall(r"\b(rkv_\w*)\s*\(", stmt))
    return names


def exported_symbols(nm, lib):
    """(name, type) of every defined dynamic symbol, without @VERSION."""
    try:
        out = subprocess.run([nm, "-D", "--defined-only", lib], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        err = getattr(e, "stderr", "") or ""
        fail([f"{nm} -D --defined-only {lib}: {e} {err.strip()}"])
    syms = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 2:
            continue
        name, kind = fields[-1], fields[-2]
        syms.append((re.sub(r"@.*$", "", name), kind))
    return syms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nm", default="")
    ap.add_argument("--map", required=True)
    ap.add_argument("library")
    ap.add_argument("headers", nargs="+")
    a = ap.parse_args()

    nm = shutil.which(a.nm) if a.nm else None
    if nm is None:
        print(f"exports: SKIP: no nm ({a.nm or 'none found at configure time'})")
        return 77

    nodes = version_nodes(a.map)
    public = declared_functions(a.headers)
    if not public:
        fail([f"no rkv_ function declared in {' '.join(a.headers)}"])

    exported = set()
    bad = []
    for name, kind in exported_symbols(nm, a.library):
        if kind == "A" and name in nodes:
            continue  # the version node's own symbol
        if not name.startswith("rkv_") or name.startswith("rkv__"):
            bad.append(f"{name} ({kind}) is exported but is not a public rkv_ name")
        elif name not in public:
            bad.append(f"{name} ({kind}) is exported but no public header declares it")
        exported.add(name)
    for name in sorted(public - exported):
        bad.append(f"{name} is declared in a public header but not exported")
    if bad:
        fail(bad)

    print(f"exports: ok: {len(exported)} symbols, exactly the public headers' functions")
    for name in sorted(exported):
        print("  " + name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
