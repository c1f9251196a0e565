#!/usr/bin/env bash
# Measure the bridge and the D-Bus shim as a 32-bit GX runs them. A Cerbo GX, Ekrano or a
# Raspberry Pi on Venus OS has a 32-bit (armv7) userland; Debian i386 has the same pointer width
# and runs natively here, so its RSS is the nearest figure this machine can give for a GX.
# Builds (once) a Debian i386 root with python3-dbus and a venv, copies this tree into it at the
# same path, and runs `python -m bench --root` with every process under test inside the root.
# Needs root, debootstrap and network access to Debian and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOTFS=${ROOTFS:-/var/tmp/alfen-i386}
SUITE=${SUITE:-bookworm}
VENV_PY=.venv/bin/python

if [ "$(id -u)" != 0 ]; then
    echo "bench-32bit: needs root (debootstrap, chroot, mount)" >&2
    exit 2
fi
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }

if [ ! -x "$ROOTFS/opt/alfen-venv/bin/python" ]; then
    echo "bench-32bit: building a Debian $SUITE i386 root in $ROOTFS (once, about 2 minutes)"
    debootstrap --arch=i386 --variant=minbase \
        --include=python3,python3-venv,python3-dbus,python3-yaml,python3-pip,ca-certificates \
        "$SUITE" "$ROOTFS" http://deb.debian.org/debian >/dev/null
    cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
    # the host's CA bundle and pip settings (a proxy's CA, a local index) apply inside too
    cp /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
    [ -e /etc/pip.conf ] && cp /etc/pip.conf "$ROOTFS/etc/pip.conf"
    chroot "$ROOTFS" python3 -m venv --system-site-packages /opt/alfen-venv
fi

mounted=()
cleanup() {
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount "${mounted[$i]}" || true; done
}
trap cleanup EXIT
bind() {  # $1 host path, $2 path inside the root; the bench's temp files and sockets live in /tmp
    if ! mountpoint -q "$ROOTFS$2"; then
        mkdir -p "$ROOTFS$2"
        mount --bind "$1" "$ROOTFS$2"
        mounted+=("$ROOTFS$2")
    fi
}
bind /proc /proc
bind /dev /dev
bind /tmp /tmp

# this tree, at the same path (the processes get PYTHONPATH=$PWD), and its runtime dependencies
mkdir -p "$ROOTFS$PWD"
tar --exclude='./.venv*' --exclude=./.git -cf - . | tar -xf - -C "$ROOTFS$PWD"
chroot "$ROOTFS" /opt/alfen-venv/bin/python -m pip install -q --disable-pip-version-check "$PWD" \
    2> >(sed '/is ignored: it is either a non-existing path/d' >&2)

"$VENV_PY" -m bench --root "$ROOTFS" --only "${ONLY:-bridge,dbus_shim}" "$@"
