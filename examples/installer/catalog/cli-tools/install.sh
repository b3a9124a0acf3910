#!/bin/sh
# Makes the copied tools executable and checks that they run.
set -e
target="$1"
for tool in sse-ctl sse-tail; do
  chmod 755 "$target/bin/$tool"
  echo "installed $tool: $("$target/bin/$tool")"
done
echo "warning: add $target/bin to your PATH" >&2
echo "done"
