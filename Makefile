# Shortcuts; every target runs inside the project's environment (set up on first use).
.PHONY: setup test lint demo bench clean

setup:
	tools/setup-env

test:
	tools/run-tests

lint:
	tools/with-env ruff check .
	tools/with-env ruff format --check .
	tools/with-env mypy

demo:
	tools/with-env python -m bodypose3d_ros.demo

bench:
	tools/with-env python -m bench.run

clean:
	rm -rf .build .cache bench/out demo_out
