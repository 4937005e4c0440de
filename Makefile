# moyal: `make install`, `make run`, `make test` (see README.md).
VENV   := .venv
PY     := $(VENV)/bin/python
MPIRUN := $(VENV)/bin/mpirun
NP     ?= 2

.PHONY: install run test test-serial test-mpi kernels check-kernels bench verify clean

install:
	@bash scripts/install.sh

run: install
	$(MPIRUN) -n $(NP) $(PY) -m solvers.run configs/default.toml run.overwrite=true

test: install
	@bash scripts/run_tests.sh

test-serial: install
	$(PY) -m pytest -m "not mpi and not slow"

test-mpi: install
	$(MPIRUN) -n 2 $(PY) -m scripts.mpi_pytest -m mpi tests/mpi

kernels: install
	$(PY) -m moyal.codegen write

check-kernels: install
	$(PY) -m moyal.codegen check

bench: install
	$(PY) -m scripts.bench --out output

verify: install
	$(MPIRUN) -n $(NP) $(PY) -m scripts.verify --out output

clean:
	rm -rf output build *.egg-info .pytest_cache
