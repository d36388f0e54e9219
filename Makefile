# px.airflow: one entry point. `make setup` once, then `make test` or `make deploy`.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help setup test lint sanity units pytest deploy teardown bench clean

help:
	@echo "make setup     - install everything into .venv (and Debian packages when root)"
	@echo "make test      - run every gate: ruff, ansible-lint, sanity, units, pytest"
	@echo "make deploy    - deploy the stack and demo-test it (site.yml; on kubesim when no cluster is configured)"
	@echo "make lint|sanity|units|pytest - one gate"

setup:
	./tools/setup.sh

test: setup
	$(VENV)/bin/python tools/gates.py

lint:
	$(VENV)/bin/python tools/gates.py --only ruff ansible-lint

sanity:
	$(VENV)/bin/python tools/gates.py --only sanity

units:
	$(VENV)/bin/python tools/gates.py --only units

pytest:
	$(VENV)/bin/python tools/gates.py --only pytest

deploy: setup
	./tools/deploy.sh $(ARGS)

bench: setup
	$(VENV)/bin/python bench/run.py

clean:
	rm -rf out collections/ansible_collections/px/airflow/tests/output
