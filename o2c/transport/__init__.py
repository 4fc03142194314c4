"""Moving files between the hub and its partners (banks over SFTP), without Airflow.

- :mod:`o2c.transport.sftp`: an SFTP client with a pinned host key, settle-aware listing,
  hashed atomic downloads and server-side archiving;
- :mod:`o2c.transport.banks`: the ``banks:`` section of the sources file and the connections
  it names (``O2C_CONN_<ID>`` outside Airflow);
- :mod:`o2c.transport.redact`: masking of account numbers in logs and summaries.
"""
