# Shortcuts for scripts/dev.sh, which does all the set-up (system packages, venv, install).
.PHONY: demo test test-fast test-all lint setup bench clean
demo:
	bash scripts/dev.sh demo
test:
	bash scripts/dev.sh test
test-fast:
	bash scripts/dev.sh test-fast
test-all:
	bash scripts/dev.sh test-all
lint:
	bash scripts/dev.sh lint
setup:
	bash scripts/dev.sh setup
bench:
	bash scripts/dev.sh bench
clean:
	rm -rf build .lofictl-cache
