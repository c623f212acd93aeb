#!/bin/sh
# indexsync .deb/.rpm: create the system user and group the services run as.
# Debian calls this with "install"/"upgrade", RPM with 1 (install) or 2 (upgrade).
set -e
if ! getent group indexsync >/dev/null; then
  groupadd --system indexsync
fi
if ! getent passwd indexsync >/dev/null; then
  useradd --system --gid indexsync --home-dir /var/lib/indexsync --no-create-home \
    --shell /usr/sbin/nologin --comment "indexsync service" indexsync
fi
