#!/usr/bin/env bash
# Installs the system packages the project needs when they are missing (fresh Debian / Ubuntu /
# Raspberry Pi OS). Idempotent; prints nothing when everything is there.
set -euo pipefail

need=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then need+=(mosquitto); fi
for extra in "$@"; do
  case "$extra" in
    # Optional: the dashboard's browser tests drive Debian's chromium through Playwright (no browser download).
    chromium) command -v chromium >/dev/null 2>&1 || need+=(chromium) ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0

echo "Installing system packages: ${need[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
# Debian starts the packaged broker on 1883; presensi never relies on it (it starts its own), so leave it be.
