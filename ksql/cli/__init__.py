"""The ``ksql`` shell: a command-line client for the REST server, in the look of ksqlDB's CLI.

Modules by role: ``client`` (HTTP, streaming query responses), ``render`` (tables, pages and JSON
as ksqlDB prints them), ``session`` (running statements, local SET/DEFINE), ``commands`` (the
shell's own commands), ``completion`` (Tab completion, history file), ``shell`` (the prompt and
``main``).
"""
