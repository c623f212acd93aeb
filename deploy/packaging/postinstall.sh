#!/bin/sh
# indexsync .deb/.rpm: the state directory, the env file's group, and a word
# on what to do next. The services are not enabled here: they need the
# settings and secrets of /etc/indexsync/indexsync.env first.
set -e
install -d -o indexsync -g indexsync -m 0750 /var/lib/indexsync
chgrp indexsync /etc/indexsync/indexsync.env
chmod 0640 /etc/indexsync/indexsync.env
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  # On upgrade, restart what was running so it runs the new binary.
  if systemctl is-active --quiet indexsync.service; then
    systemctl restart indexsync.service || true
  fi
fi
case "$1" in
  configure|1)
    if [ -z "$2" ]; then
      cat <<'MSG'
indexsync is installed. Fill in /etc/indexsync/indexsync.env (Cassandra, search
engine, API keys), then:
  systemctl enable --now indexsync.service          # the Sync API on :9000
  systemctl enable --now indexsync-verify.timer     # nightly verify --repair
UserSync_run.sh (the old job's command line) is on the PATH.
MSG
    fi
    ;;
esac
