#!/usr/bin/env sh
# Print a supported Python 3.12 (ArviZ 1.x needs it) on this machine.
# Supported = what pyproject.toml declares (>=3.12,<3.13).
# Looks on PATH first, then in pyenv's versions when pyenv is installed.
candidates="python3.12"
if command -v pyenv >/dev/null 2>&1; then
    root=$(pyenv root 2>/dev/null)
    for v in $(ls -d "$root"/versions/3.12* 2>/dev/null); do
        candidates="$candidates $v/bin/python3"
    done
fi
candidates="$candidates python3"
for p in $candidates; do
    if "$p" -c 'import sys, venv, ensurepip; sys.exit(not (3, 12) <= sys.version_info[:2] < (3, 13))' >/dev/null 2>&1; then
        echo "$p"
        exit 0
    fi
done
echo "no Python 3.12 found; install it or run 'make PYTHON=/path/to/python3.12 ...'" >&2
exit 1
