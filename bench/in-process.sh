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
# RUST_LOG=warn as run.sh starts the service; the bench installs no subscriber, so nothing prints.
cargo bench -p auth-service --bench in_process | tee "$REPO_DIR/bench/last-in-process-run.txt"
