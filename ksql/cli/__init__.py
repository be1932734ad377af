"""The ``ksql`` command-line client."""
