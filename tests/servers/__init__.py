"""Real servers for the tests, on loopback, started and stopped by PID.

Usable from pytest (see tests/conftest.py) and by hand:
``python -m tests.servers up`` starts them and prints how to reach them.
"""
