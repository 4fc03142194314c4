# o2c-hub: two commands for a newcomer (see README): `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed-$(shell cat requirements.lock requirements-test.txt pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)
# Debian packages the tests need: OpenSSH (a real sshd for the SFTP tests), Chromium and a font (UI page tests)
APT_PACKAGES := openssh-server openssh-client chromium fonts-dejavu-core

export O2C_HOME ?= $(CURDIR)/var
export AIRFLOW_HOME ?= $(CURDIR)/var/airflow

.PHONY: install apt demo test lint lock clean bench writeback-faults

$(STAMP):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip wheel
	$(PIP) install -q -r requirements.lock -r requirements-test.txt
	$(PIP) install -q --no-deps -e .
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# Installs the Debian packages when one is missing (needs root or sudo, as on CI machines).
apt:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

demo: install
	$(PY) -m demo

test: install apt
	$(PY) -m pytest -q -p no:cacheprovider

lint: install
	$(VENV)/bin/ruff check .

# Re-pin the full resolved set after changing requirements.txt
lock:
	rm -rf /tmp/o2c-lock-venv && $(PYTHON) -m venv /tmp/o2c-lock-venv
	/tmp/o2c-lock-venv/bin/pip install -q --upgrade pip && /tmp/o2c-lock-venv/bin/pip install -q -r requirements.txt
	/tmp/o2c-lock-venv/bin/pip freeze --exclude-editable | grep -v '^o2c-hub' > requirements.lock

bench: install
	$(PY) -m bench.run_all

# The write-back under faults, full run: every kill point at every position (SIGKILL, restart),
# the ERP answering 500 / late / never, two pushers; SQLite and PostgreSQL (bench/RESULTS.md)
writeback-faults: install
	$(PY) bench/bench_writeback_faults.py

clean:
	rm -rf $(VENV) var
