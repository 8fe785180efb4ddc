# shellcheck shell=bash
# The folder a built tool is cached in: ~/.cache/flowspace/NAME-VERSION-DIGEST. The digest covers
# everything that decides the build's output besides the version: the Go toolchain and the files
# given (the build script, the sources), by content and relative name, so a change rebuilds and a
# clone anywhere finds the same folder.
# usage: cache_dir NAME VERSION PATH...   (PATH: a file or a folder)
cache_dir() {
  local cache_dir_name=$1 cache_dir_version=$2 cache_dir_path
  shift 2
  local cache_dir_digest
  cache_dir_digest=$(
    go env GOVERSION GOOS GOARCH
    for cache_dir_path in "$@"; do
      if [ -d "$cache_dir_path" ]; then
        (cd "$cache_dir_path" && find . -type f ! -path '*/node_modules/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
      else
        printf '%s %s\n' "$(sha256sum < "$cache_dir_path" | cut -c1-64)" "$(basename "$cache_dir_path")"
      fi
    done
  )
  printf '%s/flowspace/%s-%s-%s\n' "${XDG_CACHE_HOME:-$HOME/.cache}" "$cache_dir_name" "$cache_dir_version" \
    "$(printf '%s' "$cache_dir_digest" | sha256sum | cut -c1-12)"
}
