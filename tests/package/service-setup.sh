#!/bin/sh
# Run in the container by service.sh: install the package and give the
# shipped configuration a loopback port.       service-setup.sh DEB PORT
set -e
dpkg -i "$1" >/dev/null 2>&1 || dpkg -i "$1"
sed -i "s/^listen: \[\"127.0.0.1:25\"\]/listen: [\"127.0.0.1:$2\"]/" /etc/sluice/sluice.yaml
