#!/usr/bin/env bash
# Build the Debian package of edgetel from this repository, in one step:
#   packaging/build-deb.sh [OUTDIR]            -> OUTDIR/edgetel_<version>_<arch>.deb (default: dist/)
# The package holds a self-contained virtual environment in /opt/edgetel built with Debian's python3 (so it
# runs on Debian bookworm and later with python3 >= 3.11), /usr/bin/edgetel, the hardened systemd unit, and
# /etc/edgetel/agent.yaml as a conffile, and a sysctl drop-in (net.ipv4.tcp_migrate_req, for reloads).
# Needs: python3-venv, dpkg-deb (both Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-dist}
PY=${DEB_PYTHON:-/usr/bin/python3}
VERSION=$("$PY" -c 'import re;print(re.search(r"^version = \"(.+)\"", open("pyproject.toml").read(), re.M).group(1))')
ARCH=$(dpkg --print-architecture)
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
ROOT="$STAGE/root"
mkdir -p "$ROOT/opt" "$ROOT/usr/bin" "$ROOT/etc/edgetel" "$ROOT/lib/systemd/system" "$ROOT/DEBIAN" \
         "$ROOT/usr/share/doc/edgetel" "$ROOT/usr/lib/sysctl.d"

# The venv is created at its final path inside the staging root, then its paths are rewritten to /opt/edgetel.
"$PY" -m venv "$ROOT/opt/edgetel"
"$ROOT/opt/edgetel/bin/python" -m pip install -q --upgrade pip >/dev/null
"$ROOT/opt/edgetel/bin/python" -m pip install -q --no-compile .
grep -rlI --null "$ROOT/opt/edgetel" "$ROOT/opt/edgetel" | xargs -0 -r sed -i "s|$ROOT/opt/edgetel|/opt/edgetel|g"
find "$ROOT/opt/edgetel" -name '__pycache__' -prune -exec rm -rf {} +
rm -f "$ROOT/opt/edgetel/bin/pip"* "$ROOT/opt/edgetel/bin/activate"*

ln -s /opt/edgetel/bin/edgetel "$ROOT/usr/bin/edgetel"
install -m 0644 agent.yaml "$ROOT/etc/edgetel/agent.yaml"
install -m 0644 systemd/edgetel.service "$ROOT/lib/systemd/system/edgetel.service"
install -m 0644 packaging/sysctl/60-edgetel.conf "$ROOT/usr/lib/sysctl.d/60-edgetel.conf"
install -m 0644 README.md "$ROOT/usr/share/doc/edgetel/README.md"
cp -r docs "$ROOT/usr/share/doc/edgetel/docs"

SIZE=$(du -sk "$ROOT" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" packaging/debian/control > "$ROOT/DEBIAN/control"
install -m 0644 packaging/debian/conffiles "$ROOT/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$script" "$ROOT/DEBIAN/$script"
done

mkdir -p "$OUT"
DEB="$OUT/edgetel_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "$DEB"
