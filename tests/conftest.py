"""Session-wide fixtures live in tests/fixtures_*.py modules and are registered here.

tests/fixtures_threads.py fails a test module that leaves threads or servers running.
"""

pytest_plugins = ["tests.fixtures_threads", "tests.fixtures_airflow", "tests.fixtures_services", "tests.fixtures_tryton",
                  "tests.fixtures_sshd"]
