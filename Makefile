# px.airflow: one entry point. `make setup` once, then `make test` or `make deploy`.
SHELL := /bin/bash
VENV := .venv
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help setup test lint sanity docs-lint units integration pytest docs deploy teardown bench clean cluster cluster-down cluster-status

help:
	@echo "make setup     - install everything into .venv (and Debian packages when root)"
	@echo "make test      - run every gate: ruff, ansible-lint, sanity, docs, units, cluster, integration, pytest"
	@echo "make deploy    - deploy the stack and demo-test it (site.yml; on the local real cluster when none is configured)"
	@echo "make lint|sanity|docs-lint|units|integration|pytest - one gate (integration needs the local cluster up)"
	@echo "make docs      - build the collection's HTML docs site into out/docs (antsibull-docs, Sphinx)"
	@echo "make cluster   - build (first time) and start the local real Kubernetes (px-cluster up)"
	@echo "make cluster-down [PURGE=1] - stop it (PURGE=1 also removes its data)"

setup:
	./tools/setup.sh

test: setup
	$(VENV)/bin/python tools/gates.py

lint:
	$(VENV)/bin/python tools/gates.py --only ruff ansible-lint

sanity:
	$(VENV)/bin/python tools/gates.py --only sanity

docs-lint:
	$(VENV)/bin/python tools/gates.py --only docs

docs:
	./tools/docs.sh

units:
	$(VENV)/bin/python tools/gates.py --only units

integration:
	$(VENV)/bin/python tools/gates.py --only integration

pytest:
	$(VENV)/bin/python tools/gates.py --only pytest

cluster: setup
	$(VENV)/bin/px-cluster up --dir out/cluster

cluster-down:
	$(VENV)/bin/px-cluster down --dir out/cluster $(if $(PURGE),--purge,)

cluster-status:
	$(VENV)/bin/px-cluster status --dir out/cluster

deploy:
	@started=$$(date +%s) && ./tools/setup.sh && echo "main-job: set-up $$(( $$(date +%s) - started )) s"
	./tools/deploy.sh $(ARGS)

bench: setup
	$(VENV)/bin/python bench/run.py

clean:
	@# Stop the local cluster first: rm -rf would follow its volume mounts.
	[ ! -x $(VENV)/bin/px-cluster ] || $(VENV)/bin/px-cluster down --dir out/cluster --purge
	rm -rf out collections/ansible_collections/px/airflow/tests/output
