#!/bin/sh
# Remove what install.sh added: the services (stopped first), the rc.local line (other lines are
# kept; the file goes only if install.sh created it), the logs and /data/alfen-victron.
# Persisted state in the configured state_dir (default /data/alfen) is left alone.
#
# Usage: uninstall.sh [--root DIR]   (or ROOT=DIR)
set -eu

ROOT="${ROOT:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="$2"; shift 2 ;;
        --root=*) ROOT="${1#--root=}"; shift ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "uninstall.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

APP=/data/alfen-victron
DEST="$ROOT$APP"
MARK="# alfen-victron"
NAMES="alfen-bridge alfen-control alfen-dbus-shim alfen-ui"

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

rm -rf "$DEST"
echo "uninstall.sh: removed $APP and its services"
