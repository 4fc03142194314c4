"""Moving files between the hub and its partners, without Airflow: the infrastructure layer.

- :mod:`transport.sftp`: an SFTP client with a pinned host key, settle-aware listing, hashed
  atomic downloads bounded in size, refusal of unsafe remote names, and server-side archiving;
- :mod:`transport.redact`: masking of account numbers, passwords and tokens in logs and messages.

It sits beside ``edi/`` and ``connectors/`` and imports nothing from ``o2c/``: connectors (file
drops over SFTP) and the hub's jobs both use it. The ``banks:`` configuration that names SFTP
servers lives in :mod:`o2c.banks`.
"""
