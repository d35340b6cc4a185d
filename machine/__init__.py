"""The pure core: shared protocol types and one module per machine.

Nothing here performs I/O, reads a clock, draws unseeded randomness or logs; see ``core`` for the
rules every machine follows.
"""
