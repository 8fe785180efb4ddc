#!/bin/sh
# Runs on the host, from inside one release directory (releases/<id>/release.sh):
#   receive-secrets   read "name base64" lines on stdin into secrets/ (mode 0600)
#   activate          firewall, docker compose up --wait, health gate; restore the previous
#                     release and fail if the gate does not pass; prune old releases
#   retire            on delete: take the stack down if this release is the current one
# Secrets arrive on stdin only; nothing here prints them.
set -eu

release_dir=$(cd "$(dirname "$0")" && pwd)
release_id=$(basename "$release_dir")
app_dir=$(dirname "$(dirname "$release_dir")")
current="$app_dir/current"
history="$app_dir/releases.log"
. "$release_dir/release.env"

say() { printf '[flowspace %s] %s\n' "$release_id" "$*" >&2; }

compose() {
  dir=$1
  shift
  docker compose --project-name "$COMPOSE_PROJECT" --project-directory "$dir" -f "$dir/$COMPOSE_FILE" "$@"
}

point_current_at() {
  ln -sfn "$1" "$current.next"
  mv -T "$current.next" "$current"
}

receive_secrets() {
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
  sudo -n install -m 0755 "$release_dir/$FIREWALL_RULES" "$FIREWALL_SCRIPT"
  sudo -n "$FIREWALL_SCRIPT"
}

gate() {
  # Each check: hostname=service. Through Caddy on this host, as Cloudflare would connect.
  for check in $GATE_CHECKS; do
    host=${check%%=*}
    attempt=1
    until curl --silent --show-error --fail --max-time 5 --insecure \
      --resolve "$host:$HTTPS_PORT:127.0.0.1" "https://$host:$HTTPS_PORT$HEALTH_ROUTE" > /dev/null; do
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

roll_back() {
  reason=$1
  service=$2
  say "FAILED: $reason"
  say "last log lines of $service:"
  compose "$release_dir" logs --no-color --tail "$LOG_LINES" "$service" >&2 || true
  if [ -n "$previous" ] && [ "$previous" != "$release_dir" ] && [ -d "$previous" ]; then
    say "restoring the previous release $(basename "$previous")"
    point_current_at "$previous"
    # --build: the socket server image tag is shared, and now holds the failed release's build.
    if compose "$previous" up --detach --build --wait --remove-orphans >&2; then
      say "previous release restored"
    else
      say "the previous release did not come back healthy either"
    fi
  else
    say "no previous release to restore"
  fi
  exit 1
}

record_attempt() {
  # Activation order, newest last; a release appears once.
  grep -vx "$release_id" "$history" 2>/dev/null > "$history.next" || true
  echo "$release_id" >> "$history.next"
  mv "$history.next" "$history"
}

prune() {
  # Only releases that were activated before are pruned; an uploaded one waiting for its
  # activation is left alone.
  dropped=$(head -n "-$KEEP_RELEASES" "$history")
  for id in $dropped; do
    say "pruning release $id"
    rm -rf "${app_dir:?}/releases/$id"
  done
  tail -n "$KEEP_RELEASES" "$history" > "$history.next"
  mv "$history.next" "$history"
}

activate() {
  previous=$(readlink "$current" 2>/dev/null || true)
  record_attempt
  apply_firewall
  point_current_at "$release_dir"
  say "starting services"
  if ! compose "$release_dir" up --detach --build --wait --remove-orphans >&2; then
    unhealthy=$(compose "$release_dir" ps --all --format '{{.Service}} {{.Health}} {{.State}}' 2>/dev/null |
      awk '$2 != "healthy" { print $1; exit }')
    roll_back "docker compose up --wait: ${unhealthy:-a service} did not become healthy" "${unhealthy:-}"
  fi
  failed_check=""
  if ! gate; then
    roll_back "health gate: https://${failed_check%%=*}$HEALTH_ROUTE did not answer" "${failed_check#*=}"
  fi
  prune
  say "release active"
}

retire() {
  if [ "$(readlink "$current" 2>/dev/null || true)" = "$release_dir" ]; then
    say "stopping the stack"
    compose "$release_dir" down --remove-orphans --volumes >&2
    rm -f "$current" "$history"
    rm -rf "$app_dir/releases"
  fi
}

case "${1:-}" in
  receive-secrets) receive_secrets ;;
  activate) activate ;;
  retire) retire ;;
  *) echo "usage: $0 receive-secrets|activate|retire" >&2; exit 2 ;;
esac
