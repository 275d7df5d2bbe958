# Thin wrapper around the two README commands.
.PHONY: demo test build
demo:
	bash .ci/demo
test:
	bash .ci/test
build:
	bash .ci/build
