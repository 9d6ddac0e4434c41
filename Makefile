# entrakit — `make test` is the one command CI runs (through .ci/run).
GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
RUN_PKG     ?= ./cmd/webapp
# gin without its msgpack codec (ugorji/go): a cold first build 175 s instead of
# 192-219 s and an 80 MB binary instead of 89 (README, Development).
RUN_TAGS    ?= nomsgpack
GOFILES      = $(shell find . -name '*.go' -not -path '*/node_modules/*' -not -path './.git/*')

.PHONY: test deps lint fmt-check vet staticcheck unit scale run bench fuzz screenshots infra

test: deps lint unit scale

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

# Scale scenarios (100,000-user directory) are built without the race
# detector (//go:build !race): too slow under it; the same code runs under
# -race at 5,000 users (sync_test.go, SQLite and PostgreSQL) in unit.
scale:
	$(GO) test -count=1 -timeout 10m -run '^TestScale' ./daemon/

# infra/main.bicep through Bicep's own build and linter where the Bicep CLI
# is installed (CI has none), then the Go checks of infra/ (also in unit):
# the manifest and main.bicep against the vendored Microsoft Graph Bicep
# types (internal/bicepcheck), the manifest as msgraph-sdk-go's
# models.Application (graphapi).
infra:
	@if command -v bicep >/dev/null 2>&1; then \
		echo "bicep build infra/main.bicep && bicep lint infra/main.bicep"; \
		bicep build infra/main.bicep --stdout >/dev/null && bicep lint infra/main.bicep; \
	else \
		echo "infra: skipped bicep build and bicep lint: the Bicep CLI is not installed"; \
	fi
	$(GO) test ./infra/ ./internal/bicepcheck/
	$(GO) test -run '^TestManifestIsApplication' ./graphapi/

run:
	$(GO) run -tags '$(RUN_TAGS)' $(RUN_PKG)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	@scripts/fuzz.sh

# The README's screenshot, taken by the browser test (TestBrowserSignIn).
screenshots: deps
	ENTRAKIT_ARTIFACTS_DIR=$(CURDIR)/test-artifacts/browser $(GO) test -count=1 -run '^TestBrowserSignIn$$' ./webapp/
	mkdir -p docs/img && cp test-artifacts/browser/04-profile.png docs/img/profile.png
