#!/bin/sh
# Counts the bytes this host sent this month and publishes the count as a custom metric
# ($EGRESS_NAMESPACE/$EGRESS_METRIC), authorised by the instance principal. Run by its timer, often
# enough that every window of the alarms holds a reading.
# Overridable for tests: METER_COUNTER, METER_MONTH, METER_BOOT_ID, METER_BOOT_MONTH, METER_METADATA,
# OCI_CLI.
set -eu
: "${EGRESS_NAMESPACE:?}" "${EGRESS_METRIC:?}" "${EGRESS_STATE:?}" "${OCI_CLI_VENV:?}" "${OCI_CLI_REQUIREMENTS:?}"

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

oci=${OCI_CLI:-$OCI_CLI_VENV/bin/oci}
if [ ! -x "$oci" ]; then
  python3 -m venv "$OCI_CLI_VENV" 2> /dev/null ||
    { apt-get install -y -qq python3-venv > /dev/null && python3 -m venv "$OCI_CLI_VENV"; }
  # Exactly the packages of the lock, each checked against its hash.
  "$OCI_CLI_VENV/bin/pip" install --quiet --require-hashes --only-binary=:all: -r "$OCI_CLI_REQUIREMENTS"
fi
payload=$(mktemp)
trap 'rm -f "$payload"' EXIT
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat > "$payload" << JSON
[{"namespace": "$EGRESS_NAMESPACE", "compartmentId": "$compartment", "name": "$EGRESS_METRIC",
  "dimensions": {"resourceId": "$instance"}, "datapoints": [{"timestamp": "$stamp", "value": $total}]}]
JSON
"$oci" monitoring metric-data post --auth instance_principal \
  --endpoint "https://telemetry-ingestion.$region.oraclecloud.com" --metric-data "file://$payload" > /dev/null
