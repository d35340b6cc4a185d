#!/usr/bin/env bash
# Mutation testing of machine/ with mutmut 3 (see docs/mutation-testing.md).
#
# mutmut names a mutant after its file's path, so it needs the import path to match the file path
# (src/blockfsm/machine/x.py is blockfsm.machine.x). This repository maps packages to folders
# (package-dir in pyproject.toml), so the script stages a src/ layout copy of the sources and
# tests in $STAGE and runs mutmut there, with its own virtualenv in which blockfsm is not
# installed (mutmut must import the mutated copy). The [tool.mutmut] section of pyproject.toml is
# the configuration, written for the staged layout.
#
#   tools/mutation-testing.sh                    # every module of machine/
#   tools/mutation-testing.sh sync_client types  # only these modules (file stems)
#   STAGE=/tmp/mm tools/mutation-testing.sh      # where to stage (default: .mutmut/ here)
#   MAX_CHILDREN=2                               # parallel mutants (default 2)
#
# Results: "mutmut results" and "mutmut show NAME" in $STAGE, with $STAGE/.venv/bin on PATH.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
stage="${STAGE:-$here/.mutmut}"
venv="${MUTMUT_VENV:-$stage/.venv}"
mkdir -p "$stage"
if [ ! -x "$venv/bin/mutmut" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'mutmut>=3.8,<4' 'attrs>=23.1' 'hypothesis>=6.100' 'click>=8.1' \
        'rich>=13.0' 'pynacl>=1.5' 'transitions>=0.9.2' 'pytest>=8' 'lmdb>=1.4' 'msgpack>=1.0'
fi
rm -rf "$stage/src" "$stage/tests"
mkdir -p "$stage/src/blockfsm"
cp -r "$here/package/." "$stage/src/blockfsm/"
for pkg in machine spec adapters; do
    cp -r "$here/$pkg" "$stage/src/blockfsm/$pkg"
done
find "$stage/src" -name __pycache__ -prune -exec rm -rf {} +
cp -r "$here/tests" "$stage/tests"
cp "$here/pyproject.toml" "$stage/pyproject.toml"
if [ "$#" -gt 0 ]; then
    # Narrow source_paths to the named modules.
    paths=""
    for m in "$@"; do paths="$paths\"src/blockfsm/machine/$m.py\", "; done
    sed -i "s|^source_paths = .*|source_paths = [${paths%, }]|" "$stage/pyproject.toml"
fi
cd "$stage"
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-ci}"
"$venv/bin/mutmut" run --max-children "${MAX_CHILDREN:-2}"
"$venv/bin/mutmut" results
