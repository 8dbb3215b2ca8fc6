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
