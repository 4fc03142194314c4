"""Command groups of the ``o2c`` CLI, one module each."""
