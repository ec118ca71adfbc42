#!/usr/bin/env bash
# Instructions per request of validate, create and decode, counted by valgrind (cachegrind, no
# cache simulation) on the in-process bench (auth-service/benches/in_process.rs): the App a
# worker runs, driven without a socket, beside a bare App (the ceiling). Each scenario runs twice,
# with LOW and HIGH requests; the difference divided by HIGH-LOW removes the start-up. Counts
# do not move with the VM's load the way times do, so they show a change of a few percent.
# No network; installs Debian's valgrind when missing.
#
# valgrind's CPU has no SHA extensions, so SHA-256 runs in software there at about ten times the
# instructions it takes on this machine: the second column leaves SHA-256 out (perf's profile,
# bench/profile.sh, gives its real share: about 8 % of a creation).
#
#   bash bench/instructions.sh                   # LOW=1024 HIGH=3072 (multiples of 64)
#
# Prints instructions per request and the ratios as throughput would have them (ceiling count /
# scenario count), and writes them to bench/last-instructions-run.txt.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
LOW=${LOW:-1024}
HIGH=${HIGH:-3072}
RESULTS_FILE=$BENCH_DIR/last-instructions-run.txt

command -v valgrind >/dev/null || apt_install valgrind
BIN=$(cd "$REPO_DIR" && cargo bench -p auth-service --bench in_process --no-run 2>&1 |
    sed -n 's/.*Executable .*(\(.*in_process-[0-9a-f]*\)).*/\1/p' | tail -1)
[ -n "$BIN" ] || die "no in_process bench executable"
case $BIN in /*) ;; *) BIN=$REPO_DIR/$BIN ;; esac

instructions() { # instructions SCENARIO COUNT -> "ALL WITHOUT_SHA256" instructions of the run
    local out=$WORK_DIR/cachegrind.$1.$2
    IN_PROCESS_ONLY=$1 IN_PROCESS_COUNT=$2 valgrind --tool=cachegrind --cache-sim=no \
        --cachegrind-out-file="$out" "$BIN" >/dev/null 2>&1
    python3 - "$out" <<'PY'
import sys
total = sha = 0
in_sha = False
for line in open(sys.argv[1]):
    if line.startswith("fn="):
        in_sha = "sha2::sha256" in line
    elif line[:1].isdigit():
        count = int(line.split()[1])
        total += count
        sha += count if in_sha else 0
print(total, total - sha)
PY
}

bench_init instructions
declare -A PER NOSHA
{
    printf '# instructions per request (valgrind cachegrind, %s and %s requests per scenario)\n' "$LOW" "$HIGH"
    printf '%-10s %14s %16s\n' scenario instructions "without SHA-256"
    for scenario in ceiling validate create decode; do
        read -r low_all low_nosha < <(instructions "$scenario" "$LOW")
        read -r high_all high_nosha < <(instructions "$scenario" "$HIGH")
        [ -n "$low_all" ] && [ -n "$high_all" ] || die "$scenario: valgrind gave no count"
        PER[$scenario]=$(( (high_all - low_all) / (HIGH - LOW) ))
        NOSHA[$scenario]=$(( (high_nosha - low_nosha) / (HIGH - LOW) ))
        printf '%-10s %14d %16d\n' "$scenario" "${PER[$scenario]}" "${NOSHA[$scenario]}"
    done
    ratio() { python3 -c "print(f'{$1 / $2 * 100:.1f} %')"; }
    for scenario in validate create decode; do
        printf '%-18s %14s %16s\n' "$scenario/ceiling" "$(ratio "${PER[ceiling]}" "${PER[$scenario]}")" \
            "$(ratio "${NOSHA[ceiling]}" "${NOSHA[$scenario]}")"
    done
    for scenario in create decode; do
        printf '%-18s %14s %16s\n' "$scenario/validate" "$(ratio "${PER[validate]}" "${PER[$scenario]}")" \
            "$(ratio "${NOSHA[validate]}" "${NOSHA[$scenario]}")"
    done
} | tee "$RESULTS_FILE"
