"""Hypothesis strategies and deterministic builders for machine inputs, reusable by users.

These modules import Hypothesis; nothing in ``blockfsm.machine`` imports them.
"""
