#!/bin/sh
# Runs on the host, from inside one release directory (releases/<id>/release.sh):
#   receive-secrets   read "name base64" lines on stdin into the secrets folder (mode 0600)
#   activate          firewall, docker compose up --wait, health gate; on failure restore the
#                     previous release (its firewall and its services) and fail; prune old releases
#   retire            on delete: take the stack down if this release is the current one
#   gate              only the health gate, against what runs now
# Every action holds the host's lock, so rollouts never interleave, and a host serves one stack.
# Secrets arrive on stdin only; nothing here prints them.
set -eu

release_dir=$(cd "$(dirname "$0")" && pwd)
release_id=$(basename "$release_dir")
app_dir=$(dirname "$(dirname "$release_dir")")
current="$app_dir/current"
# Releases that were activated, oldest first; and those whose activation failed since.
history="$app_dir/releases.log"
failed="$app_dir/failed.log"
owner="$app_dir/stack"
. "$release_dir/release.env"

say() { printf '[flowspace %s] %s\n' "$release_id" "$*" >&2; }

compose() {
  dir=$1
  shift
  docker compose --project-name "$COMPOSE_PROJECT" --project-directory "$dir" -f "$dir/$COMPOSE_FILE" "$@"
}

hold_lock() {
  command -v flock > /dev/null || { say "flock (util-linux) is not installed on the host"; exit 1; }
  exec 9> "$app_dir/.lock"
  if ! flock -w "$LOCK_WAIT_SECONDS" 9; then
    say "another rollout has held $app_dir/.lock for ${LOCK_WAIT_SECONDS}s; run pulumi up again when it is done"
    exit 1
  fi
}

claim_host() {
  if [ -s "$owner" ] && [ "$(cat "$owner")" != "$STACK" ]; then
    say "this host serves stack '$(cat "$owner")'; refusing to roll stack '$STACK' onto it" \
      "(a host serves one stack: pulumi destroy the other stack, or aim this one at another host)"
    exit 1
  fi
  printf '%s\n' "$STACK" > "$owner"
}

point_current_at() {
  ln -sfn "$1" "$current.next"
  mv -T "$current.next" "$current"
}

receive_secrets() {
  hold_lock
  umask 077
  secrets="$release_dir/$SECRETS_DIR"
  mkdir -p "$secrets"
  while read -r name encoded; do
    case " $SECRET_FILES " in
      *" $name "*) ;;
      *) say "refusing unexpected secret file name"; exit 1 ;;
    esac
    printf '%s' "$encoded" | base64 -d > "$secrets/$name.partial"
    chmod 0600 "$secrets/$name.partial"
    mv "$secrets/$name.partial" "$secrets/$name"
  done
  for name in $SECRET_FILES; do
    [ -s "$secrets/$name" ] || { say "secret file $name was not received"; exit 1; }
  done
}

apply_firewall() {
  sudo -n install -m 0755 "$1/$FIREWALL_RULES" "$FIREWALL_SCRIPT"
  sudo -n "$FIREWALL_SCRIPT"
  # Back at every boot on any host with systemd (on OCI, cloud-init installed the same unit).
  if command -v systemctl > /dev/null; then
    sudo -n install -m 0644 "$1/$FIREWALL_UNIT" "$UNIT_DIR/$FIREWALL_UNIT"
    sudo -n systemctl daemon-reload
    sudo -n systemctl enable "$FIREWALL_UNIT"
  fi
}

# LiveKit's host settings (UDP buffers): raised, never lowered, and kept for the next boot.
apply_tuning() {
  sudo -n install -m 0644 "$1/$SYSCTL_CONF" "$SYSCTL_PATH"
  while IFS='=' read -r key value; do
    [ -n "$key" ] || continue
    setting=$(sysctl -n "$key" 2> /dev/null || echo 0)
    if [ "$setting" -lt "$value" ]; then
      sudo -n sysctl -q -w "$key=$value"
    fi
  done < "$1/$SYSCTL_CONF"
}

# The certificate Caddy serves is verified: against the release's origin certificate itself (curl
# accepts a leaf as its own trust anchor), so a wrong, mismatched or expired one fails the gate;
# without one (ACME), against the host's trusted roots.
gate_curl() {
  if [ -n "$GATE_CA_FILE" ]; then
    curl --silent --show-error --fail --max-time 5 --cacert "$release_dir/$GATE_CA_FILE" "$@"
  else
    curl --silent --show-error --fail --max-time 5 "$@"
  fi
}

install_meter() {
  # OCI stacks with cost alerts: the month-to-date outbound meter, hourly.
  [ -n "$EGRESS_METER" ] || return 0
  sudo -n install -m 0755 "$release_dir/$EGRESS_METER" "$EGRESS_METER_PATH"
  if command -v systemctl > /dev/null; then
    for unit in "$EGRESS_SERVICE" "$EGRESS_TIMER"; do
      sudo -n install -m 0644 "$release_dir/$unit" "$UNIT_DIR/$unit"
    done
    sudo -n systemctl daemon-reload
    sudo -n systemctl enable --now "$EGRESS_TIMER"
  fi
}

gate() {
  # Each check: hostname=service. Through Caddy on this host, as Cloudflare would connect.
  for check in $GATE_CHECKS; do
    host=${check%%=*}
    attempt=1
    until gate_curl --resolve "$host:$HTTPS_PORT:127.0.0.1" "https://$host:$HTTPS_PORT$HEALTH_ROUTE" > /dev/null; do
      if [ "$attempt" -ge "$GATE_ATTEMPTS" ]; then
        failed_check=$check
        return 1
      fi
      say "waiting for https://$host$HEALTH_ROUTE ($attempt/$GATE_ATTEMPTS)"
      attempt=$((attempt + 1))
      sleep "$GATE_INTERVAL_SECONDS"
    done
    say "healthy: https://$host$HEALTH_ROUTE"
  done
}

forget() { # file id: drops id from a list file
  if [ -f "$1" ]; then
    grep -vx "$2" "$1" > "$1.next" || true
    mv "$1.next" "$1"
  fi
}

roll_back() {
  reason=$1
  service=$2
  say "FAILED: $reason"
  say "last log lines of ${service:-the services}:"
  compose "$release_dir" logs --no-color --tail "$LOG_LINES" ${service:+"$service"} >&2 || true
  forget "$failed" "$release_id"
  echo "$release_id" >> "$failed"
  if [ -n "$previous" ] && [ "$previous" != "$release_dir" ] && [ -d "$previous" ]; then
    say "restoring the previous release $(basename "$previous")"
    apply_firewall "$previous"
    point_current_at "$previous"
    # --build: the socket server image tag is shared, and now holds the failed release's build.
    if compose "$previous" up --detach --build --wait --remove-orphans >&2; then
      say "previous release restored"
    else
      say "the previous release did not come back healthy either"
    fi
  else
    say "no previous release to restore: stopping this one"
    compose "$release_dir" down --remove-orphans >&2 || true
    rm -f "$current" "$owner"
  fi
  exit 1
}

record_success() {
  forget "$history" "$release_id"
  forget "$failed" "$release_id"
  echo "$release_id" >> "$history"
}

prune() {
  # Releases that fell out of the kept set, and failed attempts: the live one is never among them.
  dropped=$(head -n "-$KEEP_RELEASES" "$history")
  for id in $dropped $(cat "$failed" 2> /dev/null || true); do
    say "pruning release $id"
    rm -rf "${app_dir:?}/releases/${id:?}"
  done
  tail -n "$KEEP_RELEASES" "$history" > "$history.next"
  mv "$history.next" "$history"
  rm -f "$failed"
}

# The socket server's source arrives as one archive; docker compose builds from the folder.
unpack_source() {
  archive="$release_dir/$SOCKET_SERVER_ARCHIVE"
  target="$release_dir/$SOCKET_SERVER_DIR"
  if [ ! -f "$archive" ] || [ -d "$target" ]; then
    return 0
  fi
  rm -rf "$target.next"
  mkdir -p "$target.next"
  if ! base64 -d < "$archive" | tar -xzf - --no-same-owner -C "$target.next"; then
    rm -rf "$target.next"
    say "the socket server's source archive did not unpack"
    exit 1
  fi
  mv "$target.next" "$target"
}

# A private image: logged in for the pull only, the password on stdin (never on a command line);
# a failed pull stops before anything changes on the host.
pull_private_image() {
  if [ -z "$REGISTRY" ]; then
    return 0
  fi
  say "pulling the socket server image from $REGISTRY as $REGISTRY_USER"
  if ! docker login --username "$REGISTRY_USER" --password-stdin "$REGISTRY" \
    < "$release_dir/$SECRETS_DIR/$REGISTRY_PASSWORD_FILE" > /dev/null; then
    say "docker login to $REGISTRY as $REGISTRY_USER failed: check socketServerRegistryUser and" \
      "socketServerRegistryPassword (a token that can read the package)"
    exit 1
  fi
  pulled=0
  compose "$release_dir" pull socket-server >&2 || pulled=$?
  docker logout "$REGISTRY" > /dev/null 2>&1 || true
  if [ "$pulled" -ne 0 ]; then
    say "pulling the socket server image failed; nothing was changed on the host"
    exit 1
  fi
}

activate() {
  hold_lock
  claim_host
  previous=$(readlink "$current" 2> /dev/null || true)
  unpack_source
  pull_private_image
  apply_firewall "$release_dir"
  apply_tuning "$release_dir"
  point_current_at "$release_dir"
  say "starting services"
  if ! compose "$release_dir" up --detach --build --wait --remove-orphans >&2; then
    unhealthy=$(compose "$release_dir" ps --all --format '{{.Service}} {{.Health}} {{.State}}' 2> /dev/null |
      awk '$2 != "healthy" { print $1; exit }')
    roll_back "docker compose up --wait: ${unhealthy:-a service} did not become healthy" "${unhealthy:-}"
  fi
  failed_check=""
  if ! gate; then
    roll_back "health gate: https://${failed_check%%=*}$HEALTH_ROUTE did not answer" "${failed_check#*=}"
  fi
  record_success
  install_meter
  prune
  say "release active"
}

retire() {
  hold_lock
  if [ "$(readlink "$current" 2> /dev/null || true)" = "$release_dir" ]; then
    say "stopping the stack and removing its releases"
    compose "$release_dir" down --remove-orphans --volumes >&2
    rm -rf "${app_dir:?}/releases" "$current" "$history" "$failed" "$owner" "$app_dir/.lock"
    rmdir "$app_dir" 2> /dev/null || true
  fi
}

case "${1:-}" in
  receive-secrets) receive_secrets ;;
  activate) activate ;;
  retire) retire ;;
  gate) gate ;;
  *) echo "usage: $0 receive-secrets|activate|retire|gate" >&2; exit 2 ;;
esac
