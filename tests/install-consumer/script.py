# SPDX-License-Identifier: Apache-2.0 OR MIT
"""The `script.py` of the drop-in usage (README.md, docs/drop-in.md), run by docs_install.sh
under the documented LD_PRELOAD: libferroc.so must be loaded in this process and in a child
that starts in another folder, where a relative preload path would no longer resolve."""

import os
import subprocess
import sys


def preloaded():
    with open("/proc/self/maps", encoding="utf-8") as maps:
        return "/libferroc.so" in maps.read()


if sys.argv[1:] == ["child"]:
    sys.exit(0 if preloaded() else 1)
if not preloaded():
    sys.exit("script.py: libferroc.so is not loaded")
child = subprocess.run([sys.executable, os.path.abspath(__file__), "child"], cwd="/",
                       check=False)
if child.returncode != 0:
    sys.exit("script.py: libferroc.so is not loaded in a child started in /")
print("script.py: libferroc.so is loaded here and in a child started in /")
