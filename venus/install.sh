#!/bin/sh
# Install the Alfen <-> Victron bridge on a Venus OS GX so that it survives firmware updates.
#
# Everything lives under /data (kept across updates): the code and a venv in /data/alfen-victron,
# made with --system-site-packages so it sees Venus's python3-dbus and GLib bindings. Four
# daemontools services (bridge, control, D-Bus shim, web UI), each with a multilog log/run,
# are linked into /service, which a firmware update wipes: a line in /data/rc.local links them
# again at every boot. Running this script again gives the same result.
#
# Usage: install.sh [--root DIR] [--no-pip]
#   --root DIR  install under DIR instead of / (tests); also ROOT=DIR in the environment
#   --no-pip    do not install Python packages (tests; or when they are already in the venv)
set -eu

ROOT="${ROOT:-}"
NO_PIP="${NO_PIP:-0}"
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="$2"; shift 2 ;;
        --root=*) ROOT="${1#--root=}"; shift ;;
        --no-pip) NO_PIP=1; shift ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

APP=/data/alfen-victron            # as the GX sees it (written into the scripts)
DEST="$ROOT$APP"                   # where this run writes it
SRC=$(cd "$(dirname "$0")/.." && pwd)
MARK="# alfen-victron"
SERVICES="alfen-bridge:bridge alfen-control:control alfen-dbus-shim:bridge.dbus_shim alfen-ui:ui"
PYTHON="${PYTHON:-python3}"

say() { echo "install.sh: $*"; }

copy_code() {
    mkdir -p "$DEST"
    [ "$SRC" = "$(cd "$DEST" && pwd)" ] && return 0   # already running from the install dir
    for item in bridge common control sim ui schemas venus pyproject.toml README.md config.example.yaml; do
        [ -e "$SRC/$item" ] || continue
        rm -rf "${DEST:?}/$item"
        cp -R "$SRC/$item" "$DEST/$item"
    done
    find "$DEST" -type d -name __pycache__ | while read -r dir; do rm -rf "$dir"; done
}

make_venv() {
    if [ ! -x "$DEST/venv/bin/python" ]; then
        if [ "$NO_PIP" = 1 ]; then
            "$PYTHON" -m venv --system-site-packages --without-pip "$DEST/venv"
        else
            "$PYTHON" -m venv --system-site-packages "$DEST/venv"
        fi
    fi
    if [ "$NO_PIP" != 1 ]; then
        say "installing Python packages (pure Python only; a GX cannot build wheels)"
        "$DEST/venv/bin/python" -m pip install -q --disable-pip-version-check "$DEST"
    fi
}

write_config() {
    if [ ! -e "$DEST/config.yaml" ] && [ -e "$DEST/config.example.yaml" ]; then
        cp "$DEST/config.example.yaml" "$DEST/config.yaml"
        chmod 600 "$DEST/config.yaml"
        say "edit $APP/config.yaml (charger address), then: svc -t /service/alfen-*"
    fi
}

write_service() {   # $1 service name, $2 python module
    dir="$DEST/service/$1"
    mkdir -p "$dir/log"
    cat > "$dir/run" <<RUN
#!/bin/sh
exec 2>&1
cd $APP
exec $APP/venv/bin/python -m $2 --config $APP/config.yaml
RUN
    cat > "$dir/log/run" <<LOG
#!/bin/sh
mkdir -p /var/log/$1
exec multilog t s99999 n8 /var/log/$1
LOG
    chmod 755 "$dir/run" "$dir/log/run"
}

write_boot() {
    cat > "$DEST/boot.sh" <<BOOT
#!/bin/sh
# Link the services into /service (a firmware update and, on newer Venus, every boot empties it).
for dir in $APP/service/*; do
    [ -d "\$dir" ] && ln -sfn "\$dir" "/service/\$(basename "\$dir")"
done
exit 0
BOOT
    chmod 755 "$DEST/boot.sh"
}

hook_rc_local() {
    rc="$ROOT/data/rc.local"
    if [ ! -e "$rc" ]; then
        printf '#!/bin/sh\n' > "$rc"
        chmod 755 "$rc"
        : > "$DEST/.created-rc-local"
    fi
    grep -qF "$MARK" "$rc" || echo "$APP/boot.sh $MARK" >> "$rc"
}

link_services() {
    mkdir -p "$ROOT/service"
    for entry in $SERVICES; do
        name=${entry%%:*}
        ln -sfn "$APP/service/$name" "$ROOT/service/$name"
    done
}

copy_code
make_venv
write_config
for entry in $SERVICES; do
    write_service "${entry%%:*}" "${entry#*:}"
done
write_boot
hook_rc_local
link_services
say "installed in $APP; services: $(echo "$SERVICES" | sed 's/:[^ ]*//g')"
