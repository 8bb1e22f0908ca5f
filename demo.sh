#!/usr/bin/env bash
# One command for the demo: install what is missing, build, analyze the sample
# captures (made by the real Linux TCP stack, see samples/README.md) and print
# the summary and the TIME_WAIT periods.
set -eu
cd "$(dirname "$0")"
scripts/deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target twscope >/dev/null
rm -f demo.db
for f in samples/*.pcap; do
    ./build/twscope analyze -q -o demo.db "$f"
done
./build/twscope query demo.db summary
echo
./build/twscope query demo.db timewaits
echo
./build/twscope query demo.db findings
