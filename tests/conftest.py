from hypothesis.internal.conjecture import providers

from blockfsm.spec.strategies.profiles import load_profile

load_profile()

# Hypothesis also draws constants it finds in the source of "local" modules, those under the
# working directory that the process has imported so far. Under pytest-xdist that set depends on
# which tests a worker happened to run before, so a derandomized campaign drew differently from
# one run of the suite to the next (a clean clone's CI run and a local run disagreed). The suite
# draws without them, so each test decides the same way whatever ran before it.
providers._get_local_constants = lambda: providers.Constants()
