#!/bin/sh
# Generates small sample data sets into the target folder.
set -e
target="$1"
mkdir -p "$target/data"
for name in cities sensors orders; do
  i=1
  : > "$target/data/$name.csv"
  while [ $i -le 20 ]; do
    echo "$name,$i,$((i * 7 % 13))" >> "$target/data/$name.csv"
    i=$((i + 1))
  done
  echo "generated data/$name.csv (20 rows)"
done
echo "sample data ready"
