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
#   tools/mutation-testing.sh sync_client types  # only these modules (file stems, or packages)
#   tools/mutation-testing.sh attester/votes     # one file of a package (its package's tests)
#   STAGE=/tmp/mm tools/mutation-testing.sh      # where to stage (default: .mutmut/ here)
#   MAX_CHILDREN=2                               # parallel mutants (default 2)
#   HYPOTHESIS_PROFILE=mutation                  # the default: few examples, derandomized
#
# Only the tests that speak of the modules mutated run (tests_for below, plus each module's
# tests/test_mutants_<module>.py); the selection in pyproject.toml is replaced by that list. A
# machine that is a package (machine/attester/, machine/producer/, machine/sync_client/) is named
# by its package, and every file in it maps to the package's tests.
#
# Results: "mutmut results" and "mutmut show NAME" in $STAGE, with $STAGE/.venv/bin on PATH.
set -euo pipefail

# The fast tests that can kill a mutant of each module (never the campaigns: minutes per run).
# test_framework.py runs every machine's spec campaign briefly under the conformance checker.
tests_for() {
    local module="${1%%/*}"  # attester/votes -> attester: a package's files share its tests
    case "$module" in
        producer)  # not test_framework.py: its producer campaign alone takes 10 s unmutated,
            # and the first (config) mutants each ran to the timeout, about a minute; these
            # take about 5 s in all. test_node_producer.py (half a second) drives the producer
            # through the node.
            echo tests/test_producer_unit.py tests/test_producer_selection.py \
                tests/test_producer_regressions.py tests/test_producer_tree.py \
                tests/test_single_rule_producer.py tests/test_node_producer.py ;;
        producer_view | producer_selection)
            echo tests/test_producer_unit.py tests/test_producer_selection.py \
                tests/test_producer_regressions.py tests/test_producer_tree.py \
                tests/test_single_rule_producer.py tests/test_framework.py ;;
        attester | node)  # test_sim.py: small clusters in the simulator, seconds in all
            echo tests/test_node_unit.py tests/test_node_producer.py tests/test_framework.py \
                tests/test_codec.py tests/test_sim.py ;;
        sync_server)
            echo tests/test_sync_server_unit.py tests/test_adapters_crypto.py \
                tests/test_framework.py tests/test_sync_maps.py ;;
        sync_client)
            echo tests/test_sync_client_unit.py tests/test_single_rule_sync_client.py \
                tests/test_framework.py tests/test_sync_maps.py ;;
        _maps)
            echo tests/test_sync_maps.py tests/test_sync_server_unit.py \
                tests/test_sync_client_unit.py ;;
        types | crypto)
            echo tests/test_sync_server_unit.py tests/test_sync_client_unit.py \
                tests/test_single_rule_sync_client.py tests/test_signed_bytes.py \
                tests/test_adapters_crypto.py tests/test_framework.py tests/test_mutants_types.py ;;
        *)  # shared modules (core, messages, view): every fast test
            echo tests/test_sync_server_unit.py tests/test_sync_client_unit.py \
                tests/test_single_rule_sync_client.py tests/test_producer_unit.py \
                tests/test_producer_selection.py tests/test_producer_regressions.py \
                tests/test_producer_tree.py tests/test_single_rule_producer.py \
                tests/test_node_unit.py tests/test_node_producer.py tests/test_codec.py \
                tests/test_signed_bytes.py tests/test_sync_maps.py tests/test_adapters_crypto.py \
                tests/test_framework.py ;;
    esac
    for f in "$here"/tests/test_mutants_*.py; do
        case "$(basename "$f")" in
            "test_mutants_$module.py" | "test_mutants_${module}_"*.py) echo "tests/$(basename "$f")" ;;
        esac
    done
}

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
# The test selection: the tests of the named modules, or of every module of machine/.
modules=("$@")
if [ "$#" -eq 0 ]; then
    for f in "$here"/machine/*.py "$here"/machine/*/__init__.py; do
        case "$f" in
            */__init__.py) m="$(basename "$(dirname "$f")")" ;;
            *) m="$(basename "$f" .py)" ;;
        esac
        [ "$m" = machine ] || modules+=("$m")
    done
fi
tests=""
for m in "${modules[@]}"; do tests="$tests $(tests_for "$m")"; done
selection="$(printf '%s\n' $tests | sort -u | sed 's/.*/"&", /' | tr -d '\n')"
python3 - "$stage/pyproject.toml" "[${selection%, }]" <<'PY'
import re
import sys

path, selection = sys.argv[1], sys.argv[2]
text = open(path).read()
text = re.sub(
    r"^pytest_add_cli_args_test_selection = \[.*?^\]",
    lambda _: f"pytest_add_cli_args_test_selection = {selection}",
    text,
    count=1,
    flags=re.S | re.M,
)
open(path, "w").write(text)
PY
if [ "$#" -gt 0 ]; then
    # Narrow source_paths to the named modules.
    paths=""
    for m in "$@"; do
        if [ -d "$here/machine/$m" ]; then
            paths="$paths\"src/blockfsm/machine/$m/\", "
        else
            paths="$paths\"src/blockfsm/machine/$m.py\", "
        fi
    done
    sed -i "s|^source_paths = .*|source_paths = [${paths%, }]|" "$stage/pyproject.toml"
fi
cd "$stage"
export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-mutation}"
"$venv/bin/mutmut" run --max-children "${MAX_CHILDREN:-2}"
"$venv/bin/mutmut" results
