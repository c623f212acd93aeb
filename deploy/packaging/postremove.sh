#!/bin/sh
# indexsync .deb/.rpm: forget the removed units. The indexsync user, the env
# file (on Debian until purge) and the state in /var/lib/indexsync are kept:
# they hold secrets, checkpoints and reports an operator may still want.
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
