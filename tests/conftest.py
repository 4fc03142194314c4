"""Session-wide fixtures live in tests/fixtures_*.py modules and are registered here."""

pytest_plugins = ["tests.fixtures_airflow", "tests.fixtures_services", "tests.fixtures_tryton", "tests.fixtures_sshd"]
