#!/usr/bin/env bash
# Installs the system tools the test suite needs but npm cannot provide, when they are missing.
# Idempotent: does nothing when everything is already there. Today that is libfaketime (Debian
# package "faketime"), used by test/integration/clock-skew.test.ts to run a Floodgate whose wall
# clock is an hour ahead. Installs only as root (CI images); otherwise it says what to run.
set -euo pipefail

have_libfaketime() {
  local path
  for path in /usr/lib/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1 \
    /usr/lib/*-linux-gnu/faketime/libfaketime.so.1; do
    [[ -e "$path" ]] && return 0
  done
  return 1
}

if have_libfaketime; then
  exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
  echo "ensure-test-tools: libfaketime is missing and this is not root; install it with:" >&2
  echo "  sudo apt-get install -y faketime" >&2
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-test-tools: libfaketime is missing and apt-get is not available; install faketime" >&2
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
install() { apt-get install -y --no-install-recommends faketime; }
# The package lists may be missing or stale on a fresh image: refresh them only if needed.
if ! install; then
  apt-get update
  install
fi

have_libfaketime || { echo "ensure-test-tools: faketime installed but libfaketime.so.1 not found" >&2; exit 1; }
