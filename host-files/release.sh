#!/bin/sh
# Runs on the host, from inside one release directory (releases/<id>/release.sh):
#   receive-secrets   read "name base64" lines on stdin into the secrets folder (mode 0600)
#   activate SERVER   runs the activation detached from the SSH session and follows its log: a
#                     dropped session leaves it running, and a retry waits for it, then converges;
#                     prints the activation's id, which the host records as its last activation
#   (the activation)  build, firewall, converge the services, health gate; on failure the last good
#                     release from the history restores itself (its firewall and services); prune
#   restore           (by a later release's rollback, under its lock) this release's services again
#   retire SERVER     on delete: take the stack down if this release is the current one, on the
#                     server it was activated for, and no activation came after the one deleted
#                     (its id arrives as PULUMI_COMMAND_STDOUT: the create's output)
#   gate              only the health gate, against what runs now
# and, for scripts/ops (run from the current release's folder):
#   status            the running release, the firewall, each service's state and age, disk, memory
#   logs [SERVICE] [--follow]    the services' recent log lines
#   exec SERVICE CMD...          a command in a service's container
#   releases          the releases kept (the running one marked) and those set aside
#   rollback          the newest other good release back, in seconds; this one is set aside
#   reactivate        this release activated again, for the server the host was activated for
#   audit             who activated, rolled back or retired what, when
# Converging recreates only the services whose image, settings or mounted files changed: mounted
# files are copied to the mounts folder under their content's digest, Caddy's files live in a
# folder of their own and a change to them is a graceful reload, and a new socket server starts in
# the idle one of two slots, takes over once healthy, and the old one stops after the gate.
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
# The server the live release was activated for (an instance id, or the address of an existing one).
readonly server_file="$app_dir/server"
# The id of the last activation by the program: a replaced activation resource (created before the
# old one is deleted) activates the same release again, and the old one's delete must leave it.
readonly activation_file="$app_dir/activation"
readonly activation_log="$release_dir/activation.log"
# Outside the app folder: it outlives a retirement.
audit_log="$(dirname "$app_dir")/.flowspace-audit.log"
readonly audit_log
releases_dir=$(dirname "$release_dir")
readonly releases_dir
# shellcheck source=/dev/null
. "$release_dir/release.env"
readonly mounts_dir="$app_dir/$MOUNTS_DIR"
readonly mounts_env="$release_dir/$MOUNTS_ENV"
readonly caddy_dir="$app_dir/$CADDY_DIR"
readonly upstream_file="$caddy_dir/$SOCKET_UPSTREAM_FILE"
readonly live_slot_file="$app_dir/$LIVE_SLOT_FILE"
readonly slots_dir="$app_dir/$SLOTS_DIR"

say() { printf '[flowspace %s] %s\n' "$release_id" "$*" >&2; }

# Who did what to which release, when (best effort: it never fails an action).
audit() { # action [release id]
  audit_by="$(id -un 2> /dev/null || echo unknown)${SSH_CLIENT:+ from ${SSH_CLIENT%% *}}"
  { printf '%s %s %s by %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "${2:-$release_id}" "$audit_by" \
    >> "$audit_log"; } 2> /dev/null || true
}

# Only this release's compose file, with the paths its mounts were staged at.
compose() {
  docker compose --project-name "$COMPOSE_PROJECT" --project-directory "$release_dir" \
    --env-file "$mounts_env" -f "$release_dir/$COMPOSE_FILE" "$@"
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
  sudo -n install -D -m 0644 "$release_dir/$EGRESS_CLI_REQUIREMENTS" "$EGRESS_CLI_REQUIREMENTS_PATH"
  # Where the meter finds the running release, whose hostnames it checks.
  printf 'FLOWSPACE_APP_DIR=%s\n' "$app_dir" | sudo -n install -D -m 0644 /dev/stdin "$EGRESS_HOST_ENV_PATH"
  if command -v systemctl > /dev/null; then
    for install_meter_unit in "$EGRESS_SERVICE" "$EGRESS_TIMER"; do
      sudo -n install -m 0644 "$release_dir/$install_meter_unit" "$UNIT_DIR/$install_meter_unit"
    done
    sudo -n systemctl daemon-reload
    sudo -n systemctl enable --now "$EGRESS_TIMER"
  fi
}

# Security updates unattended, Docker's packages never, a reboot only in the maintenance window: on
# a host with apt (and needrestart), whatever installed it.
install_upkeep() {
  if [ -d "${UPKEEP_APT_CONF_PATH%/*}" ]; then
    sudo -n install -m 0644 "$release_dir/$UPKEEP_APT_CONF" "$UPKEEP_APT_CONF_PATH"
  fi
  if [ -d "${UPKEEP_NEEDRESTART_PATH%/*}" ]; then
    sudo -n install -m 0644 "$release_dir/$UPKEEP_NEEDRESTART" "$UPKEEP_NEEDRESTART_PATH"
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

# Each mounted file at mounts/<digest of its content>: a file left as it was keeps its path, so
# compose sees no change in the service that mounts it. The paths go to compose as variables.
stage_mounts() {
  mkdir -p "$mounts_dir"
  chmod 0700 "$mounts_dir"
  : > "$mounts_env.next"
  for stage_mounts_pair in $MOUNTS; do
    stage_mounts_source="$release_dir/${stage_mounts_pair#*=}"
    stage_mounts_path="$mounts_dir/$(sha256sum < "$stage_mounts_source" | cut -d' ' -f1)"
    if [ ! -f "$stage_mounts_path" ]; then
      install -m 0600 "$stage_mounts_source" "$stage_mounts_path.next"
      mv "$stage_mounts_path.next" "$stage_mounts_path"
    fi
    printf '%s=%s\n' "${stage_mounts_pair%%=*}" "$stage_mounts_path" >> "$mounts_env.next"
  done
  printf '%s=%s\n' "$CADDY_DIR_VARIABLE" "$caddy_dir" >> "$mounts_env.next"
  mv "$mounts_env.next" "$mounts_env"
}

# Caddy's folder outlives releases; each of its files is replaced atomically, and only if it changed.
stage_caddy() {
  stage_caddy_changed=""
  mkdir -p "$caddy_dir"
  chmod 0700 "$caddy_dir"
  for stage_caddy_pair in $CADDY_FILES; do
    stage_caddy_target="$caddy_dir/${stage_caddy_pair%%=*}"
    stage_caddy_source="$release_dir/${stage_caddy_pair#*=}"
    if ! cmp -s "$stage_caddy_source" "$stage_caddy_target"; then
      mkdir -p "$(dirname "$stage_caddy_target")"
      install -m 0600 "$stage_caddy_source" "$stage_caddy_target.next"
      mv "$stage_caddy_target.next" "$stage_caddy_target"
      stage_caddy_changed=yes
    fi
  done
}

upstream_line() {
  for upstream_line_pair in $SOCKET_SLOTS; do
    if [ "${upstream_line_pair%%=*}" = "$1" ]; then
      printf 'to 127.0.0.1:%s\n' "${upstream_line_pair#*=}"
    fi
  done
}

# What a slot's container was created from: its service as compose resolves it, and the image.
slot_fingerprint() {
  {
    compose config "socket-server-$1"
    docker image inspect --format '{{.Id}}' "$SOCKET_SERVER_IMAGE" 2> /dev/null || true
  } | sha256sum | cut -d' ' -f1
}

# A slot is current when its container runs this release's socket server as it is.
slot_is_current() {
  slot_is_current_container=$(compose ps --quiet --status running "socket-server-$1" 2> /dev/null || true)
  [ -n "$slot_is_current_container" ] || return 1
  [ "$(cat "$slots_dir/$1" 2> /dev/null || true)" = "$(slot_fingerprint "$1")" ]
}

# The live slot when it already runs this release's socket server; else the first other one.
next_slot() {
  if [ -n "$1" ] && slot_is_current "$1"; then
    echo "$1"
    return 0
  fi
  for next_slot_pair in $SOCKET_SLOTS; do
    if [ "${next_slot_pair%%=*}" != "$1" ]; then
      echo "${next_slot_pair%%=*}"
      return 0
    fi
  done
}

reload_caddy() {
  say "reloading Caddy (open connections stay)"
  compose exec -T caddy caddy reload --config "$CADDY_DIR_IN_CONTAINER/$CADDYFILE" --adapter caddyfile \
    --address "$CADDY_ADMIN" --force >&2
}

# Brings the services to this release. Compose recreates only what changed; Caddy reloads; the
# socket server moves slots when it changed. The old slot keeps running until the gate has passed
# (stop_idle_slots), so a rollback moves back to it. On failure sets converge_failed to the step
# and converge_unhealthy to the service, when one can be named.
converge() {
  converge_failed=""
  converge_unhealthy=""
  stage_mounts
  stage_caddy
  converge_live=$(cat "$live_slot_file" 2> /dev/null || true)
  converge_slot=$(next_slot "$converge_live")
  # Caddy, on its first start, needs an upstream to import.
  [ -f "$upstream_file" ] || upstream_line "$converge_slot" > "$upstream_file"
  say "starting services (the socket server in slot $converge_slot)"
  if ! compose up --detach --wait --remove-orphans livekit caddy "socket-server-$converge_slot" >&2; then
    converge_failed="docker compose up --wait"
    converge_unhealthy=$(compose ps --all --format '{{.Service}} {{.Health}} {{.State}}' 2> /dev/null |
      awk '$2 != "healthy" { print $1; exit }')
    return 0
  fi
  mkdir -p "$slots_dir"
  slot_fingerprint "$converge_slot" > "$slots_dir/$converge_slot"
  if [ "$(cat "$upstream_file")" != "$(upstream_line "$converge_slot")" ]; then
    upstream_line "$converge_slot" > "$upstream_file.next"
    mv "$upstream_file.next" "$upstream_file"
    stage_caddy_changed=yes
  fi
  if [ -n "$stage_caddy_changed" ] && ! reload_caddy; then
    converge_failed="caddy reload"
    converge_unhealthy=caddy
    return 0
  fi
  printf '%s\n' "$converge_slot" > "$live_slot_file"
}

stop_idle_slots() {
  for stop_idle_slots_pair in $SOCKET_SLOTS; do
    stop_idle_slots_slot=${stop_idle_slots_pair%%=*}
    if [ "$stop_idle_slots_slot" != "$(cat "$live_slot_file")" ]; then
      compose rm --stop --force "socket-server-$stop_idle_slots_slot" > /dev/null 2>&1 || true
    fi
  done
}

# Restores first: what it writes down afterwards is best effort, so a full disk cannot stop it.
roll_back() {
  say "FAILED: $1"
  say "last log lines of ${2:-the services}:"
  compose logs --no-color --tail "$LOG_LINES" ${2:+"$2"} >&2 || true
  roll_back_previous=$(last_good_release)
  if [ -n "$roll_back_previous" ]; then
    say "restoring the previous release $(basename "$roll_back_previous")"
    sh "$roll_back_previous/$RELEASE_SCRIPT" restore || say "the previous release did not come back healthy either"
  else
    say "no previous release to restore: stopping this one"
    compose down --remove-orphans >&2 || true
    rm -rf "$current" "$owner" "$live_slot_file" "$upstream_file" "$slots_dir" || true
  fi
  { forget "$failed" "$release_id" && echo "$release_id" >> "$failed"; } 2> /dev/null || true
  audit "failed-and-rolled-back"
  exit 1
}

# Run by a later release that failed, under that release's lock.
restore() {
  apply_firewall "$release_dir" || say "this release's firewall did not apply"
  converge
  if [ -n "$converge_failed" ]; then
    say "$converge_failed failed: ${converge_unhealthy:-a service} is not healthy"
    exit 1
  fi
  stop_idle_slots
  point_current_at "$release_dir" || true
  say "previous release restored"
}

record_success() {
  forget "$history" "$release_id"
  forget "$failed" "$release_id"
  echo "$release_id" >> "$history"
}

# Mounted files and socket server images that no release on the host names any more.
prune_unnamed() {
  prune_unnamed_kept=$(cat "$releases_dir"/*/"$MOUNTS_ENV" 2> /dev/null | cut -d= -f2- || true)
  for prune_unnamed_path in "$mounts_dir"/*; do
    if [ -f "$prune_unnamed_path" ] && ! printf '%s\n' "$prune_unnamed_kept" | grep -qxF "$prune_unnamed_path"; then
      rm -f "$prune_unnamed_path"
    fi
  done
  prune_unnamed_images=$(sed -n 's/^SOCKET_SERVER_IMAGE=//p' "$releases_dir"/*/release.env 2> /dev/null || true)
  for prune_unnamed_image in $(docker image ls --format '{{.Repository}}:{{.Tag}}' "$SOCKET_SERVER_BUILT_IMAGE"); do
    if ! printf '%s\n' "$prune_unnamed_images" | grep -qxF "$prune_unnamed_image"; then
      docker image rm "$prune_unnamed_image" > /dev/null 2>&1 || true
    fi
  done
  docker image prune --force > /dev/null 2>&1 || true
  docker builder prune --force > /dev/null 2>&1 || true
}

prune() {
  # Releases that fell out of the kept set, and failed attempts: the live one is never among them.
  prune_dropped=$(head -n "-$KEEP_RELEASES" "$history")
  for prune_id in $prune_dropped $(cat "$failed" 2> /dev/null || true); do
    say "pruning release $prune_id"
    rm -rf "${releases_dir:?}/${prune_id:?}"
  done
  tail -n "$KEEP_RELEASES" "$history" > "$history.next"
  mv "$history.next" "$history"
  rm -f "$failed"
  prune_unnamed
}

# The socket server's source arrives as one archive; its image is built here, once per source.
build_socket_server() {
  build_socket_server_archive="$release_dir/$SOCKET_SERVER_ARCHIVE"
  build_socket_server_context="$release_dir/$SOCKET_SERVER_DIR"
  [ -f "$build_socket_server_archive" ] || return 0
  docker image inspect "$SOCKET_SERVER_IMAGE" > /dev/null 2>&1 && return 0
  if [ ! -d "$build_socket_server_context" ]; then
    rm -rf "$build_socket_server_context.next"
    mkdir -p "$build_socket_server_context.next"
    if ! base64 -d < "$build_socket_server_archive" |
      tar -xzf - --no-same-owner -C "$build_socket_server_context.next"; then
      rm -rf "$build_socket_server_context.next"
      say "the socket server's source archive did not unpack"
      exit 1
    fi
    mv "$build_socket_server_context.next" "$build_socket_server_context"
  fi
  say "building the socket server image $SOCKET_SERVER_IMAGE"
  if ! docker build --tag "$SOCKET_SERVER_IMAGE" --build-arg "NODE_IMAGE=$NODE_IMAGE" \
    "$build_socket_server_context" >&2; then
    say "building the socket server image failed; nothing was changed on the host"
    exit 1
  fi
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
  docker pull --quiet "$SOCKET_SERVER_IMAGE" >&2 || pull_private_image_status=$?
  docker logout "$REGISTRY" > /dev/null 2>&1 || true
  if [ "$pull_private_image_status" -ne 0 ]; then
    say "pulling the socket server image failed; nothing was changed on the host"
    exit 1
  fi
}

activate_detached() { # server [activation id: none for an operator's reactivation]
  activate_detached_server=$1
  activate_detached_activation=${2:-}
  hold_lock
  claim_host
  build_socket_server
  pull_private_image
  apply_firewall "$release_dir"
  apply_tuning "$release_dir"
  converge
  if [ -n "$converge_failed" ]; then
    roll_back "$converge_failed: ${converge_unhealthy:-a service} did not become healthy" "$converge_unhealthy"
  fi
  gate_failed_check=""
  if ! gate; then
    activate_failed_service=${gate_failed_check#*=}
    if [ "$activate_failed_service" = socket-server ]; then
      activate_failed_service="socket-server-$converge_slot"
    fi
    roll_back "health gate: https://${gate_failed_check%%=*}$HEALTH_ROUTE did not answer" "$activate_failed_service"
  fi
  stop_idle_slots
  record_success
  audit activated
  printf '%s\n' "$activate_detached_server" > "$server_file"
  if [ -n "$activate_detached_activation" ]; then
    printf '%s\n' "$activate_detached_activation" > "$activation_file"
  fi
  point_current_at "$release_dir"
  install_firewall_for_boot "$release_dir"
  install_meter
  install_upkeep
  prune
  say "release active"
}

# The SSH session only follows the activation: it runs in a session of its own, logging to a file,
# so a dropped connection or a cancelled job does not end it halfway; a retry waits for its lock.
activate() { # server [--keep-activation: an operator's reactivation, not the program's]
  if [ "${2:-}" = --keep-activation ]; then
    activate_id=""
  else
    activate_id=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  fi
  touch "$activation_log"
  activate_from=$(($(wc -c < "$activation_log") + 1))
  setsid sh "$release_dir/$RELEASE_SCRIPT" activate-detached "$1" "$activate_id" >> "$activation_log" 2>&1 < /dev/null &
  activate_worker=$!
  tail --bytes="+$activate_from" --pid="$activate_worker" --follow "$activation_log" >&2 || true
  wait "$activate_worker"
  if [ -n "$activate_id" ]; then
    printf 'activation %s\n' "$activate_id"
  fi
}

# The id the deleted activation printed when it was created.
deleted_activation() {
  printf '%s\n' "${PULUMI_COMMAND_STDOUT:-}" | sed -n 's/^activation \([0-9a-f]\{16\}\)$/\1/p' | tail -n 1
}

retire() {
  hold_lock
  if [ -s "$server_file" ] && [ "$(cat "$server_file")" != "$1" ]; then
    say "this host serves the release for server $(cat "$server_file"), not $1: nothing to retire"
    return 0
  fi
  if [ "$(readlink "$current" 2> /dev/null || true)" = "$release_dir" ]; then
    retire_deleted=$(deleted_activation)
    retire_last=$(cat "$activation_file" 2> /dev/null || true)
    if [ -n "$retire_last" ] && [ -z "$retire_deleted" ]; then
      say "the deleted activation's id did not reach the host, so the stack stays: sshd must accept it" \
        "(add 'AcceptEnv PULUMI_COMMAND_STDOUT' to /etc/ssh/sshd_config.d/60-flowspace.conf, reload sshd," \
        "run pulumi again); to take the stack down by hand: sh $release_dir/$RELEASE_SCRIPT retire-now"
      exit 1
    fi
    if [ -n "$retire_last" ] && [ "$retire_deleted" != "$retire_last" ]; then
      say "release $release_id was activated again (activation $retire_last) after the deleted one" \
        "($retire_deleted): the stack stays"
      return 0
    fi
    tear_down
  fi
}

tear_down() {
  say "stopping the stack and removing its releases"
  audit retired
  compose down --remove-orphans --volumes >&2
  rm -rf "$releases_dir" "$mounts_dir" "$caddy_dir" "$current" "$history" "$failed" "$owner" \
    "$live_slot_file" "$slots_dir" "$server_file" "$activation_file"
  prune_unnamed
  rm -f "$app_dir/.lock"
  rmdir "$app_dir" 2> /dev/null || true
}

# The container of a service: the socket server is its live slot's.
container_service() {
  if [ "$1" = socket-server ] && [ -s "$live_slot_file" ]; then
    echo "socket-server-$(cat "$live_slot_file")"
  else
    echo "$1"
  fi
}

status() {
  status_current=$(readlink "$current" 2> /dev/null || true)
  printf 'release: %s\n' "${status_current:+${status_current##*/}}"
  if sudo -n iptables -S INPUT 2> /dev/null | grep -- '^-A INPUT ' | head -n 1 | grep -q -- "-j $FIREWALL_CHAIN"; then
    echo "firewall: in place ($FIREWALL_CHAIN first in INPUT)"
  else
    echo "firewall: NOT IN PLACE ($FIREWALL_CHAIN is not the first rule of INPUT)"
  fi
  echo "services:"
  docker ps --all --filter "label=com.docker.compose.project=$COMPOSE_PROJECT" \
    --format '{{.Label "com.docker.compose.service"}}: {{.Status}}, created {{.RunningFor}}' | sed 's/^/  /'
  df -h "$app_dir" | awk 'NR == 2 { print "disk: " $3 " used of " $2 " (" $5 ")" }'
  free -m | awk '/^Mem:/ { print "memory: " $3 " MiB used of " $2 " MiB" }'
}

logs() {
  logs_follow=""
  logs_service=""
  for logs_argument in "$@"; do
    case "$logs_argument" in
      --follow) logs_follow=--follow ;;
      *) logs_service=$(container_service "$logs_argument") ;;
    esac
  done
  compose logs --no-color --tail 200 $logs_follow ${logs_service:+"$logs_service"}
}

exec_in() { # service command...
  exec_in_service=$(container_service "${1:?exec: the service}")
  shift
  if [ -t 0 ]; then
    compose exec "$exec_in_service" "$@"
  else
    compose exec -T "$exec_in_service" "$@"
  fi
}

list_releases() {
  list_releases_current=$(readlink "$current" 2> /dev/null || true)
  for list_releases_id in $(cat "$history" 2> /dev/null); do
    if [ "$list_releases_id" = "${list_releases_current##*/}" ]; then
      echo "$list_releases_id  running"
    else
      echo "$list_releases_id"
    fi
  done
  for list_releases_id in $(cat "$failed" 2> /dev/null); do
    echo "$list_releases_id  set aside"
  done
}

# This release out, the newest other good one back (its firewall for boot too); this one leaves the
# history, so the next rollback goes further back, and only an activation brings it back. Only
# the running release rolls back: an activation may have moved `current` while this one waited.
operator_rollback() {
  hold_lock
  if [ "$(readlink "$current" 2> /dev/null || true)" != "$release_dir" ]; then
    say "this release is not the running one any more ($(readlink "$current" 2> /dev/null || echo none)): nothing rolled back"
    exit 1
  fi
  operator_rollback_to=$(last_good_release)
  if [ -z "$operator_rollback_to" ]; then
    say "no other good release is on the host to roll back to"
    exit 1
  fi
  if ! sh "$operator_rollback_to/$RELEASE_SCRIPT" restore; then
    say "$(basename "$operator_rollback_to") did not come back healthy: this release again"
    restore
    audit "rollback-to-${operator_rollback_to##*/}-failed-from"
    exit 1
  fi
  install_firewall_for_boot "$operator_rollback_to"
  forget "$history" "$release_id"
  { forget "$failed" "$release_id" && echo "$release_id" >> "$failed"; } 2> /dev/null || true
  audit "rolled-back-to-${operator_rollback_to##*/}-from"
}

case "${1:-}" in
  receive-secrets) receive_secrets ;;
  activate) activate "${2:?activate: the server this host is}" ;;
  activate-detached) activate_detached "${2:?}" "${3:-}" ;;
  restore) restore ;;
  retire) retire "${2:?retire: the server the release was activated for}" ;;
  retire-now)
    hold_lock
    [ "$(readlink "$current" 2> /dev/null || true)" = "$release_dir" ] || { say "not the current release"; exit 1; }
    tear_down
    ;;
  gate) gate ;;
  status) status ;;
  logs) shift; logs "$@" ;;
  exec) shift; exec_in "$@" ;;
  releases) list_releases ;;
  rollback) operator_rollback ;;
  reactivate)
    [ -s "$server_file" ] || { say "this host was never activated: nothing to reactivate for"; exit 1; }
    activate "$(cat "$server_file")" --keep-activation
    ;;
  audit) cat "$audit_log" 2> /dev/null || true ;;
  *)
    echo "usage: $0 receive-secrets|activate SERVER|restore|retire SERVER|retire-now|gate|status|logs|exec|releases|rollback|reactivate|audit" >&2
    exit 2
    ;;
esac
