# mcp-audit: the README's two commands are `make run` and `make test`; each
# installs what is missing, builds, then runs.
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60
AUDIT_DIR ?= ./var/audit
LISTEN ?= 127.0.0.1:8080
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=RelWithDebInfo
CTEST_FLAGS ?= --output-on-failure -j2

.PHONY: all deps build run test test-unit test-asan fuzz fuzz-build bench package soak clean

all: build

deps:
	@scripts/install-deps.sh build

build: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD_DIR)
	@ln -sf $(BUILD_DIR)/compile_commands.json compile_commands.json

# The audited MCP server on its embedded defaults: Streamable HTTP on 127.0.0.1:8080 with a
# one-time API key it prints, the catalog toolkit, records in ./var/audit.
run: build
	@./$(BUILD_DIR)/mcp-audit serve --http $(LISTEN) --dev-api-key --audit-dir $(AUDIT_DIR)

# Every test: unit, integration and end-to-end with the official MCP clients;
# then each fuzz target over its corpus and for a few seconds of new inputs.
test: build fuzz-build
	@scripts/install-deps.sh test
	@cmake --build $(BUILD_DIR) --target unit_tests stdio_integration_tests http_integration_tests db_integration_tests siem_sink_integration_tests soak
	@ctest --test-dir $(BUILD_DIR) $(CTEST_FLAGS)
	@tests/fuzz/run-fuzz.sh $(FUZZ_DIR) 10

# The libFuzzer targets (Debian's clang 16, ASan + UBSan) for everything that
# parses outside input; `make fuzz` runs each for FUZZ_SECONDS and adds what
# it finds interesting to tests/fuzz/corpus.
fuzz-build: deps
	@scripts/install-deps.sh fuzz
	@CXX=clang++-16 CC=clang-16 cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Fuzz -DCMAKE_CXX_FLAGS_FUZZ="-O1 -gline-tables-only" -DMCPAUDIT_FUZZ=ON -DMCPAUDIT_BUILD_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_DIR)

fuzz: fuzz-build
	@tests/fuzz/run-fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS) grow

test-unit: build
	@ctest --test-dir $(BUILD_DIR) -L unit $(CTEST_FLAGS)

# The unit tests under AddressSanitizer and UndefinedBehaviorSanitizer; with
# ASAN_INTEGRATION=1 also the integration tests against a sanitized mcp-audit
# (not the find_package test: an installed sanitized library needs the flags too).
test-asan: deps
	@scripts/install-deps.sh test
	@cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DMCPAUDIT_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_DIR) --target unit_tests $(if $(ASAN_INTEGRATION),mcp-audit stdio_integration_tests http_integration_tests db_integration_tests siem_sink_integration_tests)
	@ctest --test-dir $(ASAN_DIR) -L $(if $(ASAN_INTEGRATION),'unit|integration' -E find_package,unit) $(CTEST_FLAGS)

# The Debian packages in $(BUILD_DIR): mcp-audit (the command, its systemd unit,
# /etc/mcp-audit/config.toml, man page, completion) and mcp-audit-dev.
package: build
	@cd $(BUILD_DIR) && cpack -G DEB
	@ls $(BUILD_DIR)/*.deb

# The soak: SOAK_MINUTES of 5,000 calls/s over HTTP into SQLite and a webhook
# receiver that goes away for 60 s every 10 minutes; soak.csv and soak.png in
# $(BUILD_DIR)/soak. `make test` runs a 2-minute form.
SOAK_MINUTES ?= 60
soak: build
	@scripts/install-deps.sh soak
	@cmake --build $(BUILD_DIR) --target soak
	@bench/soak.sh $(BUILD_DIR)/soak $(BUILD_DIR)/mcp-audit $(BUILD_DIR)/soak $(SOAK_MINUTES)

# Benchmarks print figures side by side with their baselines; they assert nothing.
bench: build
	@scripts/install-deps.sh bench
	@cmake --build $(BUILD_DIR) --target journal_bench policy_bench store_bench proxy_bench console_bench verify_bench tlog_bench bare_http_server
	@./$(BUILD_DIR)/journal_bench
	@./$(BUILD_DIR)/verify_bench
	@./$(BUILD_DIR)/tlog_bench
	@./$(BUILD_DIR)/policy_bench
	@bench/store_bench.sh $(BUILD_DIR)/store_bench
	@bench/store_bench.sh $(BUILD_DIR)/console_bench
	@./$(BUILD_DIR)/proxy_bench $(BUILD_DIR)/mcp-audit
	@bench/http_bench.sh $(BUILD_DIR)/mcp-audit $(BUILD_DIR)/bare_http_server

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(FUZZ_DIR) compile_commands.json
