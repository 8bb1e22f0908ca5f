#!/usr/bin/env python3
"""What a green run did not test.

usage: scripts/skipped.py JUNIT.xml...   (files written by ctest --output-junit)

For every test CTest skipped (exit 77), its name and the reason it printed on
its "SKIP: ..." line; for every test that ran but left a part out, its
"PARTIAL-SKIP: ..." lines. A skipped test that printed no reason is named as
such and makes the exit code 1: every skip must say why. Prints "nothing
skipped" when there is nothing to list."""
import os
import sys
import xml.etree.ElementTree as ET

listed = 0
silent = 0
for path in sys.argv[1:]:
    where = os.path.basename(os.path.dirname(os.path.abspath(path)))
    try:
        cases = ET.parse(path).getroot().iter("testcase")
    except (OSError, ET.ParseError) as e:
        print(f"{where}: cannot read {path}: {e}")
        silent += 1
        continue
    for tc in cases:
        name = tc.get("name")
        out = (tc.findtext("system-out") or "").splitlines()
        skipped = tc.find("skipped") is not None or tc.get("status") == "notrun"
        if skipped:
            why = [l[len("SKIP: "):] for l in out if l.startswith("SKIP: ")]
            if why:
                print(f"{where} {name}: skipped: {why[-1]}")
            else:
                msg = tc.find("skipped").get("message", "") if tc.find("skipped") is not None else ""
                print(f"{where} {name}: skipped, and it printed no SKIP: line saying why"
                      + (f" (CTest: {msg})" if msg else ""))
                silent += 1
            listed += 1
        for l in out:
            if l.startswith("PARTIAL-SKIP: "):
                print(f"{where} {name}: not all run: {l[len('PARTIAL-SKIP: '):]}")
                listed += 1
if listed == 0 and silent == 0:
    print("nothing skipped")
sys.exit(1 if silent else 0)
