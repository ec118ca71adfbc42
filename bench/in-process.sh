#!/usr/bin/env bash
# Per-request cost of validate, create and decode with no socket: auth-service's App driven on one
# thread through actix's test service, beside a bare App answering fixed bytes (the ceiling).
# Unlike bench/run.sh it does not depend on the kernel or on what else the VM runs, so a change
# to our code shows even when it is a few percent. No network at all; nothing to stop.
#
#   bash bench/in-process.sh                              # 5 rounds of 1 s per scenario
#   IN_PROCESS_SECONDS=3 IN_PROCESS_ROUNDS=7 bash bench/in-process.sh
#
# Prints us/request, requests/s on one core, the spread of the rounds and the ratios (throughput
# as in run.sh: ceiling time / scenario time), and writes them to bench/last-in-process-run.txt.
set -euo pipefail
REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO_DIR"
# Logging as a user runs it (one access line per request, RUST_LOG unset): the lines go to
# target/in-process-log.txt, the table to stdout.
cargo bench -p auth-service --bench in_process --no-run
cargo bench -p auth-service --bench in_process 2>"$REPO_DIR/target/in-process-log.txt" |
    tee "$REPO_DIR/bench/last-in-process-run.txt"
