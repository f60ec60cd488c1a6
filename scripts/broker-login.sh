#!/bin/sh
# Add (or replace) a broker login in Mosquitto's password file.
#
#   scripts/broker-login.sh PASSWD_FILE EDGE_ID     an edge: the login is its edge_id, as the ACL needs
#   scripts/broker-login.sh PASSWD_FILE --hub       the hub's login (presensi-hub)
#
# The password comes from PRESENSI_BROKER_PASSWORD, or is generated and printed once (put it in the
# edge's /etc/presensi/edge.env as PRESENSI_EDGE_BROKER__PASSWORD). It reaches mosquitto_passwd on
# stdin, never on a command line. Reload the broker afterwards: systemctl reload mosquitto.
set -eu

if [ $# -ne 2 ]; then
    echo "usage: $0 PASSWD_FILE EDGE_ID | $0 PASSWD_FILE --hub" >&2
    exit 2
fi
file=$1
login=$2
hub_login=presensi-hub

if [ "$login" = "--hub" ]; then
    login=$hub_login
else
    # The contract's edge id pattern; it also keeps MQTT wildcards and '/' out of the ACL's %u.
    if ! printf '%s' "$login" | grep -Eq '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'; then
        echo "$login is not a valid edge id (letters, digits, _ . -; at most 64; see docs/mqtt-contract.md)" >&2
        exit 2
    fi
    if [ "$login" = "$hub_login" ]; then
        echo "$hub_login is the hub's login; an edge may not use it (use --hub for the hub)" >&2
        exit 2
    fi
fi

command -v mosquitto_passwd >/dev/null || { echo "mosquitto_passwd not found: apt-get install mosquitto" >&2; exit 1; }

generated=no
password=${PRESENSI_BROKER_PASSWORD:-}
if [ -z "$password" ]; then
    password=$(openssl rand -base64 24 | tr -d '/+=\n')
    generated=yes
fi

umask 077
[ -f "$file" ] || : > "$file"
printf '%s\n%s\n' "$password" "$password" | mosquitto_passwd "$file" "$login" >/dev/null
echo "login $login written to $file" >&2
if [ "$generated" = yes ]; then
    echo "password (shown once): $password"
fi
