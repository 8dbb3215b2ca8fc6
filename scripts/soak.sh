#!/usr/bin/env bash
# Soaks a fresh magmad (issue 20): waves of clients, each submitting verified fills and then
# killed with SIGKILL mid-work, for SECONDS (default 1800: 30 minutes); fails if a fill fails or
# magmad's descriptors, threads or resident memory (over 10%) grew from the first wave to the
# last. CI runs a short version. Usage: scripts/soak.sh [SECONDS] [CLIENTS-PER-WAVE] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-1800}
clients=${2:-100}
seed_option=()
[ -n "${3:-}" ] && seed_option=(--seed "$3")
swift build --product magmad >/dev/null
swift build --product magmactl >/dev/null
bin=$(swift build --show-bin-path)
"$bin/magmactl" bench --soak "$seconds" --soak-clients "$clients" "${seed_option[@]}"
