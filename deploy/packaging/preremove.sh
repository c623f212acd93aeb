#!/bin/sh
# indexsync .deb/.rpm: stop and disable the units when the package is removed
# (Debian: "remove"; RPM: 0), not when it is upgraded.
set -e
case "$1" in
  remove|0)
    if [ -d /run/systemd/system ]; then
      systemctl disable --now indexsync.service indexsync-verify.timer indexsync-verify.service >/dev/null 2>&1 || true
    fi
    ;;
esac
