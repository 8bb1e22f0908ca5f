#!/usr/bin/env bash
# One command for the tests: install what is missing, build from scratch twice
# (plain, then AddressSanitizer + UndefinedBehaviorSanitizer) and run the whole
# CTest suite on each, then run each libFuzzer harness for 30 s
# (TWSCOPE_FUZZ_SECONDS). Tests that need network namespaces, tshark or the public
# corpus skip with a message where those are unavailable (one probe for each:
# tests/lib/probe.sh); the end of the run lists every skipped test or part with
# its reason (scripts/skipped.py), and fails if a skipped test gave none.
set -eu
cd "$(dirname "$0")"
scripts/deps.sh test
jobs=$(nproc)
rm -rf build-test build-asan
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test -j"$jobs"
(cd build-test && ctest --output-on-failure -j1 --output-junit junit.xml)
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DTWSCOPE_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j1 --output-junit junit.xml)
# libFuzzer harnesses (clang), a bounded run each; a crash fails the run
rm -rf build-fuzz
FUZZ_BUILD="$PWD/build-fuzz" tests/fuzz/run.sh "${TWSCOPE_FUZZ_SECONDS:-30}"
echo "== not tested in this run (skipped tests and parts, with the reason each gave):"
scripts/skipped.py build-test/junit.xml build-asan/junit.xml
echo "all tests passed (plain and ASan+UBSan builds, fuzzers)"
