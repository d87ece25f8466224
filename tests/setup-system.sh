#!/usr/bin/env bash
# System packages the tests need beyond PyPI: PostgreSQL + PostGIS for the pgstac search tests.
# The tests start their own throwaway cluster on 127.0.0.1; nothing here starts a service.
# Without apt (or without root/sudo) this only says so: the pgstac tests then skip with the reason.
set -euo pipefail
if ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  echo "setup-system: PostgreSQL + PostGIS present"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: no apt-get; install PostgreSQL + PostGIS yourself or the pgstac tests skip"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "setup-system: not root and no passwordless sudo; the pgstac tests will skip"
    exit 0
  fi
fi
echo "setup-system: installing PostgreSQL + PostGIS with apt (about a minute)"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql postgresql-postgis >/dev/null
# Debian's package starts a default cluster on port 5432; the tests use their own, so stop it if running.
$SUDO pg_ctlcluster --help >/dev/null 2>&1 && for c in $(ls /etc/postgresql 2>/dev/null); do $SUDO pg_ctlcluster "$c" main stop 2>/dev/null || true; done
echo "setup-system: done"
