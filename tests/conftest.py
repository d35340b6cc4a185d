from blockfsm.spec.strategies.profiles import load_profile

load_profile()
