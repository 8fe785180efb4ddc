#!/bin/sh
# Runs on the host, from inside one release directory (releases/<id>/release.sh):
#   receive-secrets   read "name base64" lines on stdin into the secrets folder (mode 0600)
#   activate          runs the activation detached from the SSH session and follows its log: a
#                     dropped session leaves it running, and a retry waits for it, then converges
#   (the activation)  firewall, docker compose up --wait, health gate; on failure restore the last
#                     good release from the history (its firewall and its services) and fail; prune
#   retire            on delete: take the stack down if this release is the current one
#   gate              only the health gate, against what runs now
# Every action holds the host's lock, so rollouts never interleave, and a host serves one stack.
# Secrets arrive on stdin only; nothing here prints them.
# Every variable in sh is global: the script's own are readonly, a function's carry its name.
set -eu

release_dir=$(cd "$(dirname "$0")" && pwd)
readonly release_dir
release_id=$(basename "$release_dir")
readonly release_id
app_dir=$(dirname "$(dirname "$release_dir")")
readonly app_dir
readonly current="$app_dir/current"
# Releases that were activated, oldest first; and those whose activation failed since.
readonly history="$app_dir/releases.log"
readonly failed="$app_dir/failed.log"
readonly owner="$app_dir/stack"
readonly activation_log="$release_dir/activation.log"
# shellcheck source=/dev/null
. "$release_dir/release.env"

say() { printf '[flowspace %s] %s\n' "$release_id" "$*" >&2; }

compose() {
  compose_dir=$1
  shift
  docker compose --project-name "$COMPOSE_PROJECT" --project-directory "$compose_dir" \
    -f "$compose_dir/$COMPOSE_FILE" "$@"
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

# The newest release in the history, other than this one, that is still on the host: an
# interrupted activation may have moved `current` already, the history only records good ones.
last_good_release() {
  [ -f "$history" ] || return 0
  for last_good_release_id in $(tac "$history"); do
    if [ "$last_good_release_id" != "$release_id" ] && [ -d "$app_dir/releases/$last_good_release_id" ]; then
      echo "$app_dir/releases/$last_good_release_id"
      return 0
    fi
  done
}

receive_secrets() {
  hold_lock
  umask 077
  receive_secrets_dir="$release_dir/$SECRETS_DIR"
  mkdir -p "$receive_secrets_dir"
  while read -r receive_secrets_name receive_secrets_encoded; do
    case " $SECRET_FILES " in
      *" $receive_secrets_name "*) ;;
      *) say "refusing unexpected secret file name"; exit 1 ;;
    esac
    printf '%s' "$receive_secrets_encoded" | base64 -d > "$receive_secrets_dir/$receive_secrets_name.partial"
    chmod 0600 "$receive_secrets_dir/$receive_secrets_name.partial"
    mv "$receive_secrets_dir/$receive_secrets_name.partial" "$receive_secrets_dir/$receive_secrets_name"
  done
  for receive_secrets_name in $SECRET_FILES; do
    [ -s "$receive_secrets_dir/$receive_secrets_name" ] || { say "secret file $receive_secrets_name was not received"; exit 1; }
  done
}

# A release's rules apply now; they become the boot script only once the release is good.
apply_firewall() {
  sudo -n sh "$1/$FIREWALL_RULES"
}

install_firewall_for_boot() {
  sudo -n install -m 0755 "$1/$FIREWALL_RULES" "$FIREWALL_SCRIPT"
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
  while IFS='=' read -r apply_tuning_key apply_tuning_value; do
    [ -n "$apply_tuning_key" ] || continue
    apply_tuning_setting=$(sysctl -n "$apply_tuning_key" 2> /dev/null || echo 0)
    if [ "$apply_tuning_setting" -lt "$apply_tuning_value" ]; then
      sudo -n sysctl -q -w "$apply_tuning_key=$apply_tuning_value"
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
    for install_meter_unit in "$EGRESS_SERVICE" "$EGRESS_TIMER"; do
      sudo -n install -m 0644 "$release_dir/$install_meter_unit" "$UNIT_DIR/$install_meter_unit"
    done
    sudo -n systemctl daemon-reload
    sudo -n systemctl enable --now "$EGRESS_TIMER"
  fi
}

gate() {
  # Each check: hostname=service. Through Caddy on this host, as Cloudflare would connect.
  for gate_check in $GATE_CHECKS; do
    gate_host=${gate_check%%=*}
    gate_attempt=1
    until gate_curl --resolve "$gate_host:$HTTPS_PORT:127.0.0.1" "https://$gate_host:$HTTPS_PORT$HEALTH_ROUTE" > /dev/null; do
      if [ "$gate_attempt" -ge "$GATE_ATTEMPTS" ]; then
        gate_failed_check=$gate_check
        return 1
      fi
      say "waiting for https://$gate_host$HEALTH_ROUTE ($gate_attempt/$GATE_ATTEMPTS)"
      gate_attempt=$((gate_attempt + 1))
      sleep "$GATE_INTERVAL_SECONDS"
    done
    say "healthy: https://$gate_host$HEALTH_ROUTE"
  done
}

forget() { # file id: drops id from a list file
  if [ -f "$1" ]; then
    grep -vx "$2" "$1" > "$1.next" || true
    mv "$1.next" "$1"
  fi
}

# Restores first: what it writes down afterwards is best effort, so a full disk cannot stop it.
roll_back() {
  say "FAILED: $1"
  say "last log lines of ${2:-the services}:"
  compose "$release_dir" logs --no-color --tail "$LOG_LINES" ${2:+"$2"} >&2 || true
  roll_back_previous=$(last_good_release)
  if [ -n "$roll_back_previous" ]; then
    say "restoring the previous release $(basename "$roll_back_previous")"
    apply_firewall "$roll_back_previous" || say "the previous release's firewall did not apply"
    # --build: the socket server image tag is shared, and now holds the failed release's build.
    if compose "$roll_back_previous" up --detach --build --wait --remove-orphans >&2; then
      say "previous release restored"
    else
      say "the previous release did not come back healthy either"
    fi
    point_current_at "$roll_back_previous" || true
  else
    say "no previous release to restore: stopping this one"
    compose "$release_dir" down --remove-orphans >&2 || true
    rm -f "$current" "$owner" || true
  fi
  { forget "$failed" "$release_id" && echo "$release_id" >> "$failed"; } 2> /dev/null || true
  exit 1
}

record_success() {
  forget "$history" "$release_id"
  forget "$failed" "$release_id"
  echo "$release_id" >> "$history"
}

prune() {
  # Releases that fell out of the kept set, and failed attempts: the live one is never among them.
  prune_dropped=$(head -n "-$KEEP_RELEASES" "$history")
  for prune_id in $prune_dropped $(cat "$failed" 2> /dev/null || true); do
    say "pruning release $prune_id"
    rm -rf "${app_dir:?}/releases/${prune_id:?}"
  done
  tail -n "$KEEP_RELEASES" "$history" > "$history.next"
  mv "$history.next" "$history"
  rm -f "$failed"
  # Images and build cache no kept release uses: superseded builds of the socket server.
  docker image prune --force > /dev/null 2>&1 || true
  docker builder prune --force > /dev/null 2>&1 || true
}

# The socket server's source arrives as one archive; docker compose builds from the folder.
unpack_source() {
  unpack_source_archive="$release_dir/$SOCKET_SERVER_ARCHIVE"
  unpack_source_target="$release_dir/$SOCKET_SERVER_DIR"
  if [ ! -f "$unpack_source_archive" ] || [ -d "$unpack_source_target" ]; then
    return 0
  fi
  rm -rf "$unpack_source_target.next"
  mkdir -p "$unpack_source_target.next"
  if ! base64 -d < "$unpack_source_archive" | tar -xzf - --no-same-owner -C "$unpack_source_target.next"; then
    rm -rf "$unpack_source_target.next"
    say "the socket server's source archive did not unpack"
    exit 1
  fi
  mv "$unpack_source_target.next" "$unpack_source_target"
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
  pull_private_image_status=0
  compose "$release_dir" pull socket-server >&2 || pull_private_image_status=$?
  docker logout "$REGISTRY" > /dev/null 2>&1 || true
  if [ "$pull_private_image_status" -ne 0 ]; then
    say "pulling the socket server image failed; nothing was changed on the host"
    exit 1
  fi
}

activate_detached() {
  hold_lock
  claim_host
  unpack_source
  pull_private_image
  apply_firewall "$release_dir"
  apply_tuning "$release_dir"
  say "starting services"
  if ! compose "$release_dir" up --detach --build --wait --remove-orphans >&2; then
    activate_unhealthy=$(compose "$release_dir" ps --all --format '{{.Service}} {{.Health}} {{.State}}' 2> /dev/null |
      awk '$2 != "healthy" { print $1; exit }')
    roll_back "docker compose up --wait: ${activate_unhealthy:-a service} did not become healthy" "${activate_unhealthy:-}"
  fi
  gate_failed_check=""
  if ! gate; then
    roll_back "health gate: https://${gate_failed_check%%=*}$HEALTH_ROUTE did not answer" "${gate_failed_check#*=}"
  fi
  record_success
  point_current_at "$release_dir"
  install_firewall_for_boot "$release_dir"
  install_meter
  prune
  say "release active"
}

# The SSH session only follows the activation: it runs in a session of its own, logging to a file,
# so a dropped connection or a cancelled job does not end it halfway; a retry waits for its lock.
activate() {
  touch "$activation_log"
  activate_from=$(($(wc -c < "$activation_log") + 1))
  setsid sh "$release_dir/$RELEASE_SCRIPT" activate-detached >> "$activation_log" 2>&1 < /dev/null &
  activate_worker=$!
  tail --bytes="+$activate_from" --pid="$activate_worker" --follow "$activation_log" >&2 || true
  wait "$activate_worker"
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
  activate-detached) activate_detached ;;
  retire) retire ;;
  gate) gate ;;
  *) echo "usage: $0 receive-secrets|activate|retire|gate" >&2; exit 2 ;;
esac
