# Shared helpers for the scripts in scripts/vm/ (sourced, not run).

# Prints a progress line on stderr.
vm_log() { printf 'vm: %s\n' "$*" >&2; }

# Prints an error on stderr and exits with the harness-failure status (3).
vm_die() { printf 'vm: error: %s\n' "$*" >&2; exit 3; }

# Installs the named Debian packages that are missing, running `apt-get update` first only when
# one is missing and apt cannot find it. Needs root.
vm_need_packages() {
    local missing=() p
    command -v dpkg-query >/dev/null && command -v apt-get >/dev/null || vm_die "this needs a Debian host (dpkg and apt)"
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || vm_die "missing packages (${missing[*]}); run as root or install them"
    vm_log "installing ${missing[*]}"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
        timeout 600 apt-get update -q >&2 || vm_die "apt-get update failed"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
            || vm_die "apt-get install ${missing[*]} failed"
    fi
}

# Writes a private apt configuration in DIR: its own sources list (the remaining arguments, one
# `deb` line each), lists, cache and an empty dpkg status; it reads none of the host's /etc/apt.
# Prints the path of its apt.conf, for APT_CONFIG.
vm_private_apt() {
    local a=$1
    shift
    mkdir -p "$a/etc/apt.conf.d" "$a/etc/sources.list.d" "$a/etc/preferences.d" \
        "$a/state/lists/partial" "$a/cache/archives/partial"
    : >"$a/state/status"
    printf '%s\n' "$@" >"$a/etc/sources.list"
    cat >"$a/apt.conf" <<CONF
Dir::Etc::main "/dev/null";
Dir::Etc::parts "$a/etc/apt.conf.d";
Dir::Etc::sourcelist "$a/etc/sources.list";
Dir::Etc::sourceparts "$a/etc/sources.list.d";
Dir::Etc::preferences "/dev/null";
Dir::Etc::preferencesparts "$a/etc/preferences.d";
Dir::State "$a/state";
Dir::State::status "$a/state/status";
Dir::Cache "$a/cache";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
Acquire::Languages "none";
APT::Sandbox::User "root";
CONF
    echo "$a/apt.conf"
}

# The Debian archive keyring the private apt configurations check their lists with.
vm_keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# Starts BACKEND (magma-vhost-user-gpu) with --trace on a fresh socket SOCKET, its output in LOG,
# and waits (at most 10 s) until it listens (else it is stopped, and this exits). Sets backend_pid.
vm_start_vhost_user_backend() { # backend socket log [more back-end options]
    rm -f "$2"
    "$1" --socket "$2" --trace "${@:4}" >"$3" 2>&1 &
    backend_pid=$!
    for _ in $(seq 100); do [ -S "$2" ] && return 0; sleep 0.1; done
    kill "$backend_pid" 2>/dev/null || true
    vm_die "magma-vhost-user-gpu did not listen at $2 (log: $3)"
}

# Waits (at most 10 s) for the back-end vm_start_vhost_user_backend started to end on its own;
# sets backend_status to its exit status, or to "timeout".
vm_wait_backend_exit() {
    backend_status=timeout
    for _ in $(seq 100); do
        if ! kill -0 "$backend_pid" 2>/dev/null; then
            set +e; wait "$backend_pid"; backend_status=$?; set -e
            return 0
        fi
        sleep 0.1
    done
}
