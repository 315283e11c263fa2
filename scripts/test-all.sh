#!/usr/bin/env bash
# Runs every test of shmlane on stable: unit + doc + multi-process tests, the fuzz
# targets over their seed corpora, the loom model checks (plus the fence-mutant check
# that proves the loom model catches a lost wake-up), clippy and rustfmt.
# Checks at the end that the tests left nothing behind in /dev/shm.
set -euo pipefail
cd "$(dirname "$0")/.."

shm_before=$(ls /dev/shm | grep '^shmlane\.' | sort || true)
log=$(mktemp)
trap 'rm -f "$log"' EXIT
exec > >(tee "$log") 2>&1
step() { printf '\n==> %s\n' "$*"; }

step "format (--all: the library and the cli crate)"
cargo fmt --all -- --check
(cd fuzz && cargo fmt -- --check)
(cd loom-tests && cargo fmt -- --check)

step "layers: no module imports a module of its own or a higher rank (map: src/lib.rs)"
scripts/check-layers.sh
scripts/check-layers-selftest.sh

step "atomics and UnsafeCell only through the loom shim (src/primitive.rs)"
# Process-local counters (primitive/stats.rs) are not a shared protocol and may use std.
if grep -rnE '(std|core)::sync::atomic::(AtomicU32|AtomicU64|fence)|(std|core)::cell::UnsafeCell' src \
    | grep -vE '^src/primitive(\.rs|/stats\.rs):'; then
    echo "use crate::primitive instead"; exit 1
fi

step "clippy (library and cli crate)"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "rustdoc builds without warnings (broken intra-doc links; library and cli crate)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

step "unit, multi-process and doc tests of the library and the cli crate; criterion benches run once as a smoke test"
cargo test --workspace --all-targets
cargo test --workspace --doc

step "the CLI: the README's main job starts and prints rows (tiny sizes), ls"
cargo run --quiet -- bench --blocks 1 --rounds 1000 --messages 10000 --bulk-bytes 0 --json > /dev/null
cargo run --quiet -- ls > /dev/null
# The buffer pool's bench (issue 14), tiny: every case of `shmlane bench pool` once per block.
cargo run --quiet -- bench pool --blocks 2 --rounds 200 --sizes-mib 1 --stream-mib 4 --wake-rounds 20 > /dev/null

step "examples"
cargo run --quiet --example pipe_child
cargo run --quiet --example byte_stream
cargo run --quiet --example queue_workers
cargo run --quiet --example shared_array
cargo run --quiet --example shared_value
cargo run --quiet --example frames -- --frames 8 --size-mib 4   # zero-copy frames (issue 14), small
# The seed articles' examples, ported (each < 1 s; see the doc comment atop each file).
cargo run --quiet --example seed_os_pipe
cargo run --quiet --example seed_queue_workers
cargo run --quiet --example seed_array_lock
cargo run --quiet --example seed_manager_dict
cargo run --quiet --example seed_socket_echo
cargo run --quiet --example seed_rpc_add
cargo run --quiet --example seed_sync
cargo run --quiet --example seed_pipeline
cargo run --quiet --example seed_pool_map
cargo run --quiet --example seed_terminate
cargo run --quiet --example seed_serialization
cargo run --quiet --example seed_named_unrelated
cargo run --quiet --example seed_big_arrays

step "fuzz targets over their seed corpora (stable)"
cargo test --manifest-path fuzz/Cargo.toml

step "loom model checks (bounded preemptions)"
(cd loom-tests && RUSTFLAGS="--cfg shmlane_loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=3 \
    cargo test --release)

step "loom catches a lost wake-up when the notifier ignores a fence request"
(cd loom-tests && RUSTFLAGS="--cfg shmlane_loom --cfg shmlane_mutant_no_fence -C debug-assertions" \
    LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/mutant cargo test --release --test wait)

step "loom catches a lost wake-up when the waiter skips membarrier"
(cd loom-tests && RUSTFLAGS="--cfg shmlane_loom --cfg shmlane_mutant_no_membarrier -C debug-assertions" \
    LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/mutant-mb cargo test --release --test wait)

step "loom catches a lost wake-up when a sleep flag's wake is dropped (queue, mutex)"
(cd loom-tests && RUSTFLAGS="--cfg shmlane_loom --cfg shmlane_mutant_no_flag_wake -C debug-assertions" \
    LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/mutant-flag cargo test --release \
    --test mpmc --test sync -- --exact sleeping_consumer_is_woken_by_a_put mutex_unlock_wakes_a_sleeper)

step "loom catches a blocked pool allocation never woken when a freer skips its notify"
(cd loom-tests && RUSTFLAGS="--cfg shmlane_loom --cfg shmlane_mutant_no_pool_notify -C debug-assertions" \
    LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR=target/mutant-pool cargo test --release \
    --test pool -- --exact blocked_alloc_is_woken)

step "nothing left behind in /dev/shm"
shm_after=$(ls /dev/shm | grep '^shmlane\.' | sort || true)
leftover=$(comm -13 <(echo "$shm_before") <(echo "$shm_after") | grep . || true)
if [ -n "$leftover" ]; then
    echo "left in /dev/shm:"; echo "$leftover"; exit 1
fi
echo "ok: no new /dev/shm/shmlane.* files"

# One closing line over every test runner above.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed/) p += $(i-1); if ($i ~ /^failed/) f += $(i-1) } }
     END { printf "%d passed, %d failed\n", p, f }' "$log"
