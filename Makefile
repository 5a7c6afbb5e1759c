# claude-code-api: the usual verbs. `make install` then `make start` serves on 127.0.0.1:8000.
NPM ?= npm
BIN := node_modules/.bin
SOURCES := $(shell find src -name '*.ts') tsconfig.json tsconfig.build.json package.json

.PHONY: install start dev build typecheck lint format test bench schemas clean

install:
	$(NPM) install --no-audit --no-fund

# The build is redone only when a source changed, so a restart listens within a second.
dist/.built: $(SOURCES)
	$(BIN)/tsc -p tsconfig.build.json
	@touch $@

build: dist/.built

start: dist/.built
	node dist/main.js

dev:
	$(BIN)/tsx watch src/main.ts

typecheck:
	$(BIN)/tsc -p tsconfig.json --noEmit

# ESLint with dprint formatting (as the Effect repositories), then the Effect language service's diagnostics.
lint:
	$(BIN)/eslint --max-warnings 0 .
	$(BIN)/effect-language-service diagnostics --project tsconfig.json --strict --format text

format:
	$(BIN)/eslint --fix .

test: typecheck lint
	$(BIN)/vitest run

bench: dist/.built
	$(BIN)/tsx bench/run.ts

schemas:
	$(BIN)/tsx scripts/generate-schemas.ts

clean:
	rm -rf dist
