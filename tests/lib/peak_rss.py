#!/usr/bin/env python3
"""peak_rss.py OUT COMMAND...: run COMMAND, write its peak resident set size in
KiB (getrusage's ru_maxrss of the waited-for child) to OUT, exit with its code.
Stands in for GNU time's %M, which a minimal Debian does not have."""
import resource
import subprocess
import sys

if len(sys.argv) < 3:
    sys.exit("usage: peak_rss.py OUT COMMAND...")
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=out)
sys.exit(rc if rc >= 0 else 128 - rc)
