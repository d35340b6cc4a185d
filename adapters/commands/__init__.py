"""The ``blockfsm`` command line: one module per group of commands."""
