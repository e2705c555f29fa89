# shellcheck shell=bash
# Sourced by the scripts that measure a real daemon (idle, pgo, coldpath, load),
# inside scripts/with-keyring: moto_server as STS, keys in the private
# keychain, brokerd serving from WORK. What they start is killed on exit.

pids=()
stop_all() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all EXIT

# start_sts WORK: moto_server on a free loopback port (its log WORK/moto.log),
# and the environment that points brokerd and the SDKs at it, with
# WORK/config as the config file and WORK/state as brokerd's state
# directory; fails, saying so, when moto_server does not answer in 15 s.
start_sts() {
  local port i
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  moto_server -H 127.0.0.1 -p "$port" >"$1/moto.log" 2>&1 &
  pids+=($!)
  for ((i = 0; ; i++)); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/moto-api/" && break
    [ "$i" -lt 150 ] || { echo "moto_server did not start: $(tail -5 "$1/moto.log")" >&2; return 1; }
    sleep 0.1
  done
  unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
  export AWS_CONFIG_FILE="$1/config" AWS_SHARED_CREDENTIALS_FILE="$1/none" BROKERD_STATE_DIR="$1/state"
  export AWS_ENDPOINT_URL_STS="http://127.0.0.1:$port" AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
}

# prod_config: profile prod, the role UpdateApp assumed with dev's keys.
prod_config() {
  printf '[profile dev]\n[profile prod]\nrole_arn = arn:aws:iam::123456789012:role/UpdateApp\nsource_profile = dev\n' >"$AWS_CONFIG_FILE"
}

# add_keys BROKERD: the example keys of profile dev in the keychain.
add_keys() {
  printf 'AKIAIOSFODNN7EXAMPLE\nwJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n' | "$1" keys add dev >/dev/null
}

# serve_brokerd BROKERD ARGS...: brokerd serve ARGS on a free loopback
# port, its log in the config file's directory as brokerd.log, until it
# has published its endpoint; sets brokerd_pid, and exports what
# `brokerd env` prints.
serve_brokerd() {
  local bin=$1
  shift
  "$bin" serve --listen 127.0.0.1:0 "$@" 2>"${AWS_CONFIG_FILE%/*}/brokerd.log" &
  brokerd_pid=$!
  pids+=("$brokerd_pid")
  for _ in $(seq 100); do [ -s "$BROKERD_STATE_DIR/endpoint.json" ] && break; sleep 0.1; done
  eval "$("$bin" env)"
}
