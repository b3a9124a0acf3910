#!/bin/sh
# Fails on purpose, the way a real driver installer does when its prerequisites are missing.
echo "probing hardware"
echo "found device 0000:03:00.0"
echo "checking kernel headers for $(uname -r)"
echo "error: kernel headers not found; cannot build the driver module" >&2
exit 3
