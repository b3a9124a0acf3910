#!/bin/sh
# Post-copy setup of core-runtime: checks the copied files and writes a manifest.
set -e
target="$1"
echo "checking copied files in $target"
for f in lib/libcore.so.3 lib/libcore-extra.so.3 etc/core.conf; do
  test -f "$target/$f"
  echo "ok: $f ($(wc -c < "$target/$f") bytes)"
done
echo "writing manifest"
(cd "$target" && find . -type f | sort) > "$target/MANIFEST"
echo "core-runtime 3.2.1 ready"
