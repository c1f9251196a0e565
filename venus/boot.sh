#!/bin/sh
# Run at every boot from /data/rc.local (install.sh copies this file to /data/alfen-victron/boot.sh).
#
# 1. A firmware update may bring another Python: the venv in /data then points at an interpreter
#    whose version has none of our packages (or that is gone). If the venv's Python version
#    (pyvenv.cfg) differs from the system's, or the venv's python no longer runs, the venv is
#    rebuilt offline from the wheel cache install.sh keeps in /data/alfen-victron/wheels. A
#    package whose binary wheel was built for the old Python (PyYAML, MarkupSafe) is built from
#    its source package in the cache: a GX has no compiler, so it becomes its pure-Python
#    fallback. If that fails, the old venv is put back and the log says to run install.sh again.
# 2. Link the services into /service (a firmware update, and on newer Venus every boot, empties it).
#
# Everything it did goes to /data/alfen-victron/boot.log (and to stdout).
# Usage: boot.sh [--root DIR]   (DIR: a test root instead of /; also ROOT=DIR)
set -u

ROOT="${ROOT:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --root) ROOT="$2"; shift 2 ;;
        --root=*) ROOT="${1#--root=}"; shift ;;
        *) echo "boot.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

APP=/data/alfen-victron
DEST="$ROOT$APP"
VENV="$DEST/venv"
WHEELS="$DEST/wheels"
LOG="$DEST/boot.log"
LOG_KEEP_LINES=200
if [ -z "${PYTHON:-}" ]; then
    PYTHON=python3
    [ -x /usr/bin/python3 ] && PYTHON=/usr/bin/python3
fi

log() {
    line="$(date '+%Y-%m-%d %H:%M:%S') $*"
    echo "boot.sh: $*"
    echo "$line" >> "$LOG" 2>/dev/null || true
}

trim_log() {
    [ -f "$LOG" ] || return 0
    if [ "$(wc -l < "$LOG")" -gt $((LOG_KEEP_LINES * 2)) ]; then
        tail -n "$LOG_KEEP_LINES" "$LOG" > "$LOG.tmp" && mv "$LOG.tmp" "$LOG"
    fi
}

# "3.11" from "version = 3.11.2" (or "version_info = ...") in pyvenv.cfg; empty if unknown.
venv_version() {
    sed -n 's/^version\(_info\)\{0,1\} *= *\([0-9]*\.[0-9]*\).*/\2/p' "$VENV/pyvenv.cfg" 2>/dev/null | head -n 1
}

system_version() {
    "$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null
}

rebuild_venv() {   # $1: why
    log "rebuilding the venv offline from $WHEELS: $1"
    if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        log "ERROR: no wheel cache in $WHEELS; run install.sh again (it needs the internet once)"
        return 1
    fi
    rm -rf "$VENV.old"
    [ -d "$VENV" ] && mv "$VENV" "$VENV.old"
    # PYYAML_FORCE_LIBYAML=0: PyYAML's build skips its C extension up front instead of first
    # translating it with (pure-Python, slow) Cython only to find no compiler and libyaml.
    if "$PYTHON" -m venv --system-site-packages "$VENV" >> "$LOG" 2>&1 \
        && PYYAML_FORCE_LIBYAML=0 "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-index \
            --find-links "$WHEELS" alfen-victron >> "$LOG" 2>&1; then
        rm -rf "$VENV.old"
        log "venv rebuilt for Python $(system_version)"
        return 0
    fi
    rm -rf "$VENV"
    [ -d "$VENV.old" ] && mv "$VENV.old" "$VENV"
    log "ERROR: rebuilding the venv failed (pip's output is above); the old venv is back; run install.sh again"
    return 1
}

check_venv() {
    want=$(system_version)
    if [ -z "$want" ]; then
        log "ERROR: $PYTHON does not run; services left as they are"
        return 1
    fi
    have=$(venv_version)
    if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        rebuild_venv "the venv's python does not run (system Python $want)"
    elif [ "$have" != "$want" ]; then
        rebuild_venv "the venv is for Python ${have:-unknown}, the system has $want"
    else
        log "venv matches the system Python $want"
    fi
}

link_services() {
    mkdir -p "$ROOT/service"
    for dir in "$DEST"/service/*; do
        [ -d "$dir" ] || continue
        name=$(basename "$dir")
        ln -sfn "$APP/service/$name" "$ROOT/service/$name"
    done
    log "services linked into /service"
}

trim_log
check_venv
link_services
exit 0
