# claude-code-api: the usual verbs. `make install` then `make start` serves on 127.0.0.1:8000.
NPM ?= npm
BIN := node_modules/.bin

.PHONY: install start dev build typecheck test bench schemas clean

install:
	$(NPM) install --no-audit --no-fund

start: build
	node dist/main.js

dev:
	$(BIN)/tsx watch src/main.ts

build:
	$(BIN)/tsc -p tsconfig.build.json

typecheck:
	$(BIN)/tsc -p tsconfig.json --noEmit

test: typecheck
	$(BIN)/vitest run

bench: build
	$(BIN)/tsx bench/run.ts

schemas:
	$(BIN)/tsx scripts/generate-schemas.ts

clean:
	rm -rf dist
