# EcoMarket: `make run` starts central (:8000) and branches B001 (:8001) and B002 (:8002) on embedded defaults
# (harness/devrun.py); `make test` checks the alert rules, then runs the suite in each mode (test-branch, test-central).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Central-mode tests run on a real PostgreSQL; pytest-django makes its own test_<name> database there.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
PYTEST_ARGS ?=
TEST_ENV := ENV_FILE= SECRET_KEY=test-only-secret TEST_DATABASE_URL=$(TEST_DATABASE_URL)
# Each run gets a data folder of its own (admission locks, metric files, the filesystem broker, the SQLite test
# database), kept only if the run failed; conftest.py gives it a Redis server of its own. Two runs on one machine
# then share nothing but PostgreSQL, where each test database is named apart (TEST_DATABASE_URL).
define run_in_own_data_dir
	@mkdir -p var && dir=$$(mktemp -d $(CURDIR)/var/test-$(1).XXXXXX) && \
	$(TEST_ENV) ECOMARKET_MODE=$(1) DATA_DIR=$$dir $(2) $(BIN)/python -m pytest $(PYTEST_ARGS); \
	status=$$?; if [ $$status -eq 0 ]; then rm -rf $$dir; else echo "test data kept in $$dir"; fi; exit $$status
endef

.PHONY: run test chromium prometheus pgbouncer nginx compose test-alerts test-branch test-central lint format messages clean bench-setup bench-sales bench-ingest bench-convergence bench-memory bench-reconcile bench-reports bench-profile bench-profile-http bench-scale bench-ledger bench-chain-stock bench-branch-year bench-till

$(STAMP): requirements.txt requirements-test.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt -c constraints.txt
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/python -m harness.devrun

test: test-alerts test-branch test-central

# The browser tests drive Debian's Chromium (Playwright never downloads a browser of its own here); the install test
# gives it the test CA with NSS's certutil.
chromium:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)
	command -v chromium >/dev/null
	command -v certutil >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libnss3-tools)
	command -v certutil >/dev/null

# Alert rules are unit-tested with promtool, and the real-scrape test runs Debian's Prometheus server.
prometheus:
	command -v promtool >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus)
	command -v promtool >/dev/null

test-alerts: prometheus
	promtool check rules deploy/prometheus/alerts.yml
	promtool check config --syntax-only deploy/prometheus/prometheus.yml
	cd deploy/prometheus && promtool test rules alerts_test.yml

# ecomarket/tests/test_pgbouncer.py and the chain-scale benchmark put Debian's PgBouncer in front of PostgreSQL.
pgbouncer:
	test -x /usr/sbin/pgbouncer || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pgbouncer)
	test -x /usr/sbin/pgbouncer

# ecomarket/tests/test_deploy.py runs the nginx sites in deploy/nginx/ with Debian's nginx.
nginx:
	test -x /usr/sbin/nginx || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx)
	test -x /usr/sbin/nginx

# ecomarket/tests/test_deploy.py validates compose.yaml with Debian's docker-compose (`config` needs no daemon).
compose:
	command -v docker-compose >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose)
	command -v docker-compose >/dev/null

test-branch: $(STAMP) chromium prometheus pgbouncer
	$(call run_in_own_data_dir,branch,)

test-central: $(STAMP) chromium prometheus pgbouncer nginx compose
	$(call run_in_own_data_dir,central,DATABASE_URL=$(TEST_DATABASE_URL))

# The benchmarks' own tools: wrk (Debian) and the seed prototype's stack (FastAPI, uvicorn, httpx).
bench-setup: $(STAMP)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r bench/requirements.txt

bench-sales: bench-setup
	$(BIN)/python bench/sales.py

bench-ingest: bench-setup
	$(BIN)/python bench/ingest.py

bench-convergence: bench-setup
	$(BIN)/python bench/convergence.py

bench-memory: bench-setup
	$(BIN)/python bench/memory.py

bench-profile: bench-setup
	$(BIN)/python bench/profile.py

bench-profile-http: bench-setup
	$(BIN)/python bench/profile_http.py

# Head office at chain scale (docs/scale.md): SCALE_BRANCHES=500 by default; see bench/chain_scale.py for the knobs.
bench-scale: bench-setup pgbouncer
	$(BIN)/python bench/chain_scale.py

bench-reconcile: $(STAMP)
	$(BIN)/python bench/reconcile.py

bench-reports: $(STAMP)
	$(BIN)/python bench/reports.py

# Ledger growth (docs/scale.md): 10,000,000 branch events filled with SQL once; BENCH_REUSE=1 times them again.
bench-ledger: $(STAMP)
	$(BIN)/python bench/ledger_growth.py

bench-chain-stock: $(STAMP)
	$(BIN)/python bench/chain_stock.py

# The till page in Chromium: scan to line and F9 to receipt over 200 sales (TILL_BENCH_SALES).
bench-till: $(STAMP) chromium
	$(BIN)/python bench/till_page.py

# A store's SQLite after 1,000,000 sales over a year, with and without housekeeping (SALES=100000: a smaller year).
bench-branch-year: $(STAMP)
	$(BIN)/python bench/branch_year.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Translations: the Spanish catalogue is edited in locale/es/LC_MESSAGES/django.po; this refreshes it from the code
# and compiles the .mo that is kept in the repository (needs gettext: apt-get install gettext).
messages: $(STAMP)
	SECRET_KEY=messages ECOMARKET_MODE=central DATA_DIR=var/messages $(BIN)/python manage.py makemessages -l es \
		--ignore ".venv/*" --ignore "var/*" --ignore "bench/*" --ignore "harness/*"
	SECRET_KEY=messages ECOMARKET_MODE=central DATA_DIR=var/messages $(BIN)/python manage.py compilemessages -l es \
		--ignore ".venv/*"

clean:
	rm -rf var/ $(VENV)
