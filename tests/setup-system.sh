#!/usr/bin/env bash
# System packages the tests need beyond PyPI, installed with apt when this machine allows it:
# - PostgreSQL + PostGIS for the pgstac search tests (they start their own throwaway cluster on 127.0.0.1;
#   nothing here starts a service);
# - PyQGIS (Debian's python3-qgis, no GUI) for the test that opens published layers with QGIS's own API;
# - Chromium (headless) for the test that loads the HTML report as a reader would.
# Without apt (or without root/sudo) this only says so: those tests then skip with the reason.
set -euo pipefail
have_postgis() {
  ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1
}
have_qgis() {
  [ -x /usr/bin/python3 ] && QT_QPA_PLATFORM=offscreen /usr/bin/python3 -c "import qgis.core" >/dev/null 2>&1
}
want=()
if have_postgis; then echo "setup-system: PostgreSQL + PostGIS present"; else want+=(postgresql postgresql-postgis); fi
if have_qgis; then echo "setup-system: PyQGIS present"; else want+=(python3-qgis); fi
if command -v chromium >/dev/null 2>&1; then echo "setup-system: Chromium present"; else want+=(chromium); fi
if [ ${#want[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-system: no apt-get; install ${want[*]} yourself or the tests that need them skip"
  exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "setup-system: not root and no passwordless sudo; the tests that need ${want[*]} will skip"
    exit 0
  fi
fi
echo "setup-system: installing ${want[*]} with apt (one to two minutes)"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
for pkg in "${want[@]}"; do
  [ "$pkg" = postgresql-postgis ] && continue
  group=("$pkg")
  [ "$pkg" = postgresql ] && group=(postgresql postgresql-postgis)
  # one group at a time: a package the mirror lacks costs only the tests that need it
  if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${group[@]}" >/dev/null; then
    echo "setup-system: could not install ${group[*]}; the tests that need it will skip"
  fi
done
# Debian's package starts a default cluster on port 5432; the tests use their own, so stop it if running.
if command -v pg_ctlcluster >/dev/null 2>&1; then
  for c in $(ls /etc/postgresql 2>/dev/null); do $SUDO pg_ctlcluster "$c" main stop 2>/dev/null || true; done
fi
echo "setup-system: done"
