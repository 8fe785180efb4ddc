#!/bin/sh
# Counts the bytes this host sent this month and publishes the count as a custom metric
# ($EGRESS_NAMESPACE/$EGRESS_METRIC), authorised by the instance principal; with it, whether each
# service answers as users reach it ($HEALTH_METRIC, 1 or 0 per check). Run by its timer, often
# enough that every window of the alarms holds a reading.
# Overridable for tests: METER_COUNTER, METER_MONTH, METER_BOOT_ID, METER_BOOT_MONTH, METER_METADATA,
# METER_CURL, OCI_CLI.
set -eu
: "${EGRESS_NAMESPACE:?}" "${EGRESS_METRIC:?}" "${EGRESS_STATE:?}" "${OCI_CLI_VENV:?}" "${OCI_CLI_REQUIREMENTS:?}"
: "${HEALTH_METRIC:?}" "${LIVEKIT_SIGNALING_URL:?}"

if [ -z "${METER_COUNTER:-}" ]; then
  device=$(ip route show default | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
  METER_COUNTER=/sys/class/net/$device/statistics/tx_bytes
fi
month=${METER_MONTH:-$(date -u +%Y-%m)}
counter=$(cat "$METER_COUNTER")
boot_id=${METER_BOOT_ID:-$(cat /proc/sys/kernel/random/boot_id)}
if [ -z "${METER_BOOT_MONTH:-}" ]; then
  METER_BOOT_MONTH=$(date -u -d "@$(($(date +%s) - $(cut -d. -f1 /proc/uptime)))" +%Y-%m)
fi

# The counter counts since the boot (the boot id tells a reboot). A first run counts all of it
# when the boot was this month, else from now; a new month starts from what was sent since the
# last reading.
if [ "$METER_BOOT_MONTH" = "$month" ]; then total=$counter; else total=0; fi
if [ -s "$EGRESS_STATE" ]; then
  read -r saved_month saved_total saved_last saved_boot < "$EGRESS_STATE"
  if [ "${saved_boot:-}" = "$boot_id" ] && [ "$counter" -ge "$saved_last" ]; then
    delta=$((counter - saved_last))
  else
    delta=$counter
  fi
  if [ "$saved_month" = "$month" ]; then total=$((saved_total + delta)); else total=$delta; fi
fi
mkdir -p "$(dirname "$EGRESS_STATE")"
printf '%s %s %s %s\n' "$month" "$total" "$counter" "$boot_id" > "$EGRESS_STATE.next"
mv "$EGRESS_STATE.next" "$EGRESS_STATE"

if [ -n "${METER_METADATA:-}" ]; then
  metadata=$(cat "$METER_METADATA")
else
  metadata=$(curl -sf -H "Authorization: Bearer Oracle" http://169.254.169.254/opc/v2/instance/)
fi
field() { printf '%s\n' "$metadata" | sed -n 's/.*"'"$1"'" *: *"\([^"]*\)".*/\1/p' | head -n 1; }
region=$(field canonicalRegionName)
compartment=$(field compartmentId)
instance=$(field id)

stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
point() { # name value [check]
  printf '{"namespace": "%s", "compartmentId": "%s", "name": "%s", "dimensions": {"resourceId": "%s"%s},' \
    "$EGRESS_NAMESPACE" "$compartment" "$1" "$instance" "${3:+, \"check\": \"$3\"}"
  printf ' "datapoints": [{"timestamp": "%s", "value": %s}]}' "$stamp" "$2"
}

# Each hostname through Caddy on this host, as the running release's gate checks it, and LiveKit's
# signaling: from the release the app folder points at (FLOWSPACE_APP_DIR, written by release.sh).
release_setting() { sed -n "s/^$1=//p" "$FLOWSPACE_APP_DIR/current/release.env" | sed "s/^'\(.*\)'\$/\1/"; }
health_points=""
if [ -n "${FLOWSPACE_APP_DIR:-}" ] && [ -f "$FLOWSPACE_APP_DIR/current/release.env" ]; then
  curl=${METER_CURL:-curl}
  route=$(release_setting HEALTH_ROUTE)
  ca_file=$(release_setting GATE_CA_FILE)
  https_port=$(release_setting HTTPS_PORT)
  for check in $(release_setting GATE_CHECKS); do
    host=${check%%=*}
    if "$curl" --silent --fail --max-time 5 --output /dev/null --resolve "$host:$https_port:127.0.0.1" \
      ${ca_file:+--cacert "$FLOWSPACE_APP_DIR/current/$ca_file"} "https://$host:$https_port$route"; then
      answered=1
    else
      answered=0
    fi
    health_points="$health_points, $(point "$HEALTH_METRIC" "$answered" "${check#*=}")"
  done
  if "$curl" --silent --fail --max-time 5 --output /dev/null "$LIVEKIT_SIGNALING_URL"; then answered=1; else answered=0; fi
  health_points="$health_points, $(point "$HEALTH_METRIC" "$answered" livekit-signaling)"
fi

oci=${OCI_CLI:-$OCI_CLI_VENV/bin/oci}
if [ ! -x "$oci" ]; then
  python3 -m venv "$OCI_CLI_VENV" 2> /dev/null ||
    { apt-get install -y -qq python3-venv > /dev/null && python3 -m venv "$OCI_CLI_VENV"; }
  # Exactly the packages of the lock, each checked against its hash.
  "$OCI_CLI_VENV/bin/pip" install --quiet --require-hashes --only-binary=:all: -r "$OCI_CLI_REQUIREMENTS"
fi
payload=$(mktemp)
trap 'rm -f "$payload"' EXIT
printf '[%s%s]\n' "$(point "$EGRESS_METRIC" "$total")" "$health_points" > "$payload"
"$oci" monitoring metric-data post --auth instance_principal \
  --endpoint "https://telemetry-ingestion.$region.oraclecloud.com" --metric-data "file://$payload" > /dev/null
