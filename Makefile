# PolicyKit — the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
# RACE turns on the race detector for `make test`; CI runs it on the SQLite pass only.
RACE    ?= -race
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: run test test-postgres assets build lint bench clean

## run: build the front-end assets and start the server on SQLite (http://localhost:8080)
run: assets
	$(GO) run -ldflags "-X main.version=$(VERSION)" . serve

## test: build the assets and run every test (SQLite; PostgreSQL when TEST_DATABASE_URL is set)
test: assets
	$(GO) test $(RACE) -count=1 -timeout 30m ./...

## test-postgres: the same suite on a local PostgreSQL
test-postgres:
	TEST_DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable} $(MAKE) test

## assets: install the npm packages (from package-lock.json) and bundle them into static/dist
assets: static/node_modules/.package-lock.json
	cd static && node build.mjs

static/node_modules/.package-lock.json: static/package.json static/package-lock.json
	cd static && npm ci --no-audit --no-fund

## build: a single static binary (no cgo) with the assets embedded
build: assets
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o policykit .

## lint: what CI checks besides the tests
lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

## bench: the runs the README's performance figures come from: the engine benchmarks (on
## PostgreSQL when TEST_DATABASE_URL is set), then the page load generator on WEBLOAD_DB
## (a SQLite file by default; a postgres:// URL of its own database for PostgreSQL)
WEBLOAD_DB ?= /tmp/policykit-webload.db
bench: assets
	$(GO) test -c -o engine/engine.test ./engine/
	cd engine && ./engine.test -test.run '^$$' -test.bench 'GovernAction|Deliver' -test.benchtime 5000x -test.benchmem
	cd engine && ./engine.test -test.run '^$$' -test.bench 'CheckPass10k' -test.benchtime 3x -test.benchmem
	cd engine && ./engine.test -test.run '^$$' -test.bench 'CheckPass100k' -test.benchtime 2x -test.benchmem -test.timeout 30m
	$(GO) run ./bench/webload -db '$(WEBLOAD_DB)' -rate 200 -duration 30s
	uptime

clean:
	rm -rf policykit static/dist/*.js static/dist/*.css static/node_modules
