#!/bin/sh
# Run in the container by service.sh: install the package, give the shipped
# configuration a loopback port, and enable the daemon's keys when the
# installed sluiced knows them; else install the pre-merge drop-in and
# print "premerge".            service-setup.sh DEB PORT
set -e
dpkg -i "$1" >/dev/null 2>&1 || dpkg -i "$1"
sed "s/^listen: \[\"127.0.0.1:25\"\]/listen: [\"127.0.0.1:$2\"]/" \
	/etc/sluice/sluice.yaml >/tmp/sluice.yaml
printf 'listen: ["127.0.0.1:1"]\nuser: root\n' >/tmp/probe.yaml
if sluiced -t -c /tmp/probe.yaml 2>&1 | grep -q "unknown key 'user'"; then
	mkdir -p /etc/systemd/system/sluice.service.d
	printf '[Service]\nType=simple\n' >/etc/systemd/system/sluice.service.d/premerge.conf
	systemctl daemon-reload
	echo premerge
else
	sed -i '/^#@daemon-keys$/,/^$/{/^#@/d;s/^#//}' /tmp/sluice.yaml
fi
cp /tmp/sluice.yaml /etc/sluice/sluice.yaml
