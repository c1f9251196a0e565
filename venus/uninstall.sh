#!/bin/sh
# Remove what install.sh added: the services (stopped first), the rc.local line (other lines are
# kept; the file goes only if install.sh created it), the logs, the code, the venv and the wheel
# cache in /data/alfen-victron.
#
# The user's own files stay unless --purge is given: the config (config.yaml and the
# config.yaml.bak the settings page keeps, left in /data/alfen-victron) and the saved state and
# session history in the configured state_dir (default /data/alfen). Installing again picks
# them up. --purge removes those too.
#
# Usage: uninstall.sh [--root DIR] [--purge]   (or ROOT=DIR)
set -eu

ROOT="${ROOT:-}"
PURGE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="$2"; shift 2 ;;
        --root=*) ROOT="${1#--root=}"; shift ;;
        --purge) PURGE=1; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

APP=/data/alfen-victron
DEST="$ROOT$APP"
MARK="# alfen-victron"
NAMES="alfen-bridge alfen-control alfen-dbus-shim alfen-ui"
KEEP="config.yaml config.yaml.bak"
DEFAULT_STATE_DIR=/data/alfen

# state_dir from the config (a plain `state_dir: /path` line), else the default. Only a folder
# under /data/ is ever purged: a typo must not take anything else with it.
state_dir() {
    dir=$(sed -n 's/^state_dir: *["'\'']\{0,1\}\([^"'\'' #]*\)["'\'']\{0,1\}\( \{1,\}#.*\)\{0,1\} *$/\1/p' \
        "$DEST/config.yaml" 2>/dev/null | head -n 1)
    case "$dir" in
        *..*) echo "$DEFAULT_STATE_DIR" ;;
        /data/?*) echo "$dir" ;;
        *) echo "$DEFAULT_STATE_DIR" ;;
    esac
}
STATE_DIR=$(state_dir)

for name in $NAMES; do
    link="$ROOT/service/$name"
    if [ -z "$ROOT" ] && [ -e "$link" ] && command -v svc >/dev/null 2>&1; then
        svc -dx "$link" "$link/log" || true
    fi
    rm -f "$link"
    rm -rf "$ROOT/var/log/$name"
done

rc="$ROOT/data/rc.local"
if [ -e "$rc" ]; then
    if [ -e "$DEST/.created-rc-local" ] && [ "$(grep -cvF "$MARK" "$rc")" -le 1 ]; then
        rm -f "$rc"
    else
        tmp="$rc.alfen-tmp"
        grep -vF "$MARK" "$rc" > "$tmp" || true
        cat "$tmp" > "$rc"   # keep the file's mode and owner
        rm -f "$tmp"
    fi
fi

# --purge removes the files the processes write in state_dir, never the folder's other content:
# state_dir comes from a file the settings page can write, and "/data//" or "/data/conf" must
# not take the GX's own data with it. The folder goes only if that leaves it empty.
OUR_STATE="settings.json session.json memory.json meter.json pv_history.json battery.json
  sessions.sqlite3 sessions.sqlite3-journal sessions.sqlite3-wal sessions.sqlite3-shm
  tibber_prices.json web_token dbus_shim_*.json *.corrupt-* .*.tmp"
purge_state() {
    dir="$ROOT$1"
    [ -d "$dir" ] || return 0
    for pattern in $OUR_STATE; do
        # shellcheck disable=SC2086  # the pattern is meant to expand
        for path in "$dir"/$pattern; do
            if [ -f "$path" ]; then rm -f "$path"; fi
        done
    done
    rmdir "$dir" 2>/dev/null || echo "uninstall.sh: kept $1: it holds files that are not ours"
}

if [ "$PURGE" = 1 ]; then
    rm -rf "$DEST"
    purge_state "$STATE_DIR"
    echo "uninstall.sh: removed $APP, its services, your config and the state in $STATE_DIR (--purge)"
    exit 0
fi

kept=""
if [ -d "$DEST" ]; then
    for item in "$DEST"/* "$DEST"/.[!.]*; do
        [ -e "$item" ] || continue
        name=$(basename "$item")
        case " $KEEP " in
            *" $name "*) kept="$kept $APP/$name" ;;
            *) rm -rf "$item" ;;
        esac
    done
    rmdir "$DEST" 2>/dev/null || true
fi
[ -d "$ROOT$STATE_DIR" ] && kept="$kept $STATE_DIR"
echo "uninstall.sh: removed $APP and its services"
if [ -n "$kept" ]; then
    echo "uninstall.sh: kept your files:$kept (uninstall.sh --purge removes them)"
fi
