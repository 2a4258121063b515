# Sourced by rootfs/firmware.sh and iso/secureboot.sh: a private apt configuration for
# fetching Debian packages into our cache without touching the host's apt sources, lists,
# archives or dpkg database.
#
#   private_apt DIR SOURCE...   writes DIR/sources.list with one "deb" line per SOURCE
#                               ("URL SUITE COMPONENT"), sets the array apt_opts, and runs
#                               apt-get update with it (returns its status).

private_apt() {
    local dir=$1
    shift
    mkdir -p "$dir/lists/partial" "$dir/archives/partial"
    : > "$dir/sources.list"
    local src
    for src in "$@"; do
        printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s\n' "$src" \
            >> "$dir/sources.list"
    done
    apt_opts=(
        -o "Dir::Etc::SourceList=$dir/sources.list"
        -o "Dir::Etc::SourceParts=/dev/null"
        -o "Dir::State::Lists=$dir/lists"
        -o "Dir::Cache=$dir"
        -o "Dir::Cache::archives=$dir/archives"
        # apt's sandbox user (_apt) cannot write into our cache under $HOME: download as
        # ourselves.
        -o "APT::Sandbox::User=$(id -un)"
    )
    apt-get -q "${apt_opts[@]}" update >&2
}
