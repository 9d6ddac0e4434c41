# entrakit — `make test` is the one command CI runs (through .ci/run).
GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The web app once it exists; until then the dev tenant (see README).
RUN_PKG     ?= $(if $(wildcard cmd/webapp/main.go),./cmd/webapp,./cmd/devtenant)
GOFILES      = $(shell find . -name '*.go' -not -path '*/node_modules/*' -not -path './.git/*')

.PHONY: test deps lint fmt-check vet staticcheck unit run bench fuzz

test: deps lint unit

deps:
	@scripts/deps.sh

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt: not formatted:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

unit:
	$(GO) test -race -timeout 20m ./...

run:
	$(GO) run $(RUN_PKG)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	@scripts/fuzz.sh
