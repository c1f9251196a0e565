#!/bin/sh
# Install the Alfen <-> Victron bridge on a Venus OS GX so that it survives firmware updates.
#
# Everything lives under /data (kept across updates): the code and a venv in /data/alfen-victron,
# made with --system-site-packages so it sees Venus's python3-dbus and GLib bindings. Four
# daemontools services (bridge, control, D-Bus shim, web UI), each with a multilog log/run,
# are linked into /service, which a firmware update wipes: a line in /data/rc.local links them
# again at every boot (boot.sh, which first rebuilds the venv offline if a firmware update
# changed Python). Every wheel the venv needs, and the sources of those built for one Python
# version, are kept in /data/alfen-victron/wheels for that.
# Running this script again gives the same result.
#
# Usage: install.sh [--root DIR] [--no-pip] [--wheels-from DIR]
#   --root DIR         install under DIR instead of / (tests); also ROOT=DIR in the environment
#   --no-pip           do not install Python packages (tests; or when they are already in the venv)
#   --wheels-from DIR  take the wheels (and source packages) from DIR instead of the internet (a
#                      GX without internet: another GX's wheels/ folder, copied over)
set -eu

ROOT="${ROOT:-}"
NO_PIP="${NO_PIP:-0}"
WHEELS_FROM=""
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="$2"; shift 2 ;;
        --root=*) ROOT="${1#--root=}"; shift ;;
        --no-pip) NO_PIP=1; shift ;;
        --wheels-from) WHEELS_FROM="$2"; shift 2 ;;
        --wheels-from=*) WHEELS_FROM="${1#--wheels-from=}"; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

APP=/data/alfen-victron            # as the GX sees it (written into the scripts)
DEST="$ROOT$APP"                   # where this run writes it
SRC=$(cd "$(dirname "$0")/.." && pwd)
MARK="# alfen-victron"
SERVICES="alfen-bridge:bridge alfen-control:control alfen-dbus-shim:dbus_shim alfen-ui:ui"
PYTHON="${PYTHON:-python3}"

say() { echo "install.sh: $*"; }

copy_code() {
    mkdir -p "$DEST"
    [ "$SRC" = "$(cd "$DEST" && pwd)" ] && return 0   # already running from the install dir
    for item in bridge dbus_shim common control sim ui schemas venus pyproject.toml README.md config.example.yaml; do
        [ -e "$SRC/$item" ] || continue
        rm -rf "${DEST:?}/$item"
        cp -R "$SRC/$item" "$DEST/$item"
    done
    find "$DEST" -type d -name __pycache__ | while read -r dir; do rm -rf "$dir"; done
}

python_version() {   # $1 python; "3.11"
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true
}

venv_version() {   # "3.11" from the venv's pyvenv.cfg
    sed -n 's/^version\(_info\)\{0,1\} *= *\([0-9]*\.[0-9]*\).*/\2/p' "$DEST/venv/pyvenv.cfg" 2>/dev/null | head -n 1
}

# The cache boot.sh rebuilds the venv from, filled before anything is installed from it. Next to
# the wheels it keeps the source package of every binary wheel (PyYAML, MarkupSafe: built for one
# Python version) and their build requirements as pure-Python wheels: after a firmware update to
# another Python they build from source offline, pure Python without a compiler.
fill_wheels() {
    wheels="$DEST/wheels"
    rm -rf "$wheels.new"
    mkdir -p "$wheels.new"
    if [ -n "$WHEELS_FROM" ]; then
        say "taking the wheels and source packages from $WHEELS_FROM"
        cp "$WHEELS_FROM"/*.whl "$wheels.new/"
        for sdist in "$WHEELS_FROM"/*.tar.gz "$WHEELS_FROM"/*.zip; do
            if [ -e "$sdist" ]; then cp "$sdist" "$wheels.new/"; fi
        done
    else
        say "downloading the wheels and source packages into $APP/wheels"
        "$DEST/venv/bin/python" -m pip wheel -q --disable-pip-version-check \
            --wheel-dir "$wheels.new" "$DEST"
        "$DEST/venv/bin/python" "$DEST/venus/wheel_cache.py" add-sources "$wheels.new"
    fi
    if ! "$DEST/venv/bin/python" "$DEST/venus/wheel_cache.py" check "$wheels.new"; then
        say "WARNING: after a firmware update to another Python, boot.sh cannot rebuild the venv" \
            "offline from this cache (see above); run install.sh with internet then"
    fi
    rm -rf "$wheels"
    mv "$wheels.new" "$wheels"
}

make_venv() {
    if [ -d "$DEST/venv" ] && [ "$(venv_version)" != "$(python_version "$PYTHON")" ]; then
        say "the venv is for Python $(venv_version), $PYTHON is $(python_version "$PYTHON"): making a new one"
        rm -rf "$DEST/venv"
    fi
    if [ ! -x "$DEST/venv/bin/python" ]; then
        if [ "$NO_PIP" = 1 ]; then
            "$PYTHON" -m venv --system-site-packages --without-pip "$DEST/venv"
        else
            "$PYTHON" -m venv --system-site-packages "$DEST/venv"
        fi
    fi
    if [ "$NO_PIP" != 1 ]; then
        fill_wheels
        say "installing Python packages from $APP/wheels"
        "$DEST/venv/bin/python" -m pip install -q --disable-pip-version-check --no-index \
            --find-links "$DEST/wheels" --upgrade alfen-victron
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

write_boot() {   # venus/boot.sh: check the venv against the system Python, link the services
    cp "$DEST/venus/boot.sh" "$DEST/boot.sh"
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
