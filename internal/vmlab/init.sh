#!/bin/sh
# /init of the vmlab guest (busybox sh as PID 1). It prepares the machine,
# loads the modules listed in /vmlab/modules, runs /vmlab/script, then writes
# the results as one tar stream onto the raw results disk /dev/vda and powers
# off. The host reads that tar; the serial console is only a log. A
# persistent disk (/vmlab/disk says there is one) is /dev/vdb; the script
# mounts it if it wants, and the sync before power-off keeps what it wrote.
export PATH=/sbin:/usr/sbin:/bin:/usr/bin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /run /tmp /out /root
# The initramfs root is a tmpfs of mode 1777; a real host's / is 0755, and
# lvsctl refuses to run an agent below a folder anyone may write (issue 10).
chmod 0755 /
chmod 1777 /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/netns /run/vmlab
/sbin/ip link set lo up # as on any running host
R=/run/vmlab
: >$R/stdout
: >$R/stderr

# finish writes run/vmlab/* and out/* to the results disk and powers off.
finish() {
	[ -n "$tailpid" ] && kill "$tailpid" 2>/dev/null
	cd / && mkdir -p out && tar -c -f /dev/vda run/vmlab out 2>/dev/console || echo "vmlab: writing results failed" >/dev/console
	sync
	poweroff -f
}
# fail records why the scenario could not be run at all.
fail() {
	echo "$*" >$R/setup-error
	echo "vmlab: $*" >/dev/console
	finish
}

modprobe -a virtio_pci virtio_blk 2>/dev/console
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
[ -b /dev/vda ] || { echo "vmlab: no results disk /dev/vda" >/dev/console; poweroff -f; }
serial=$(cat /sys/block/vda/serial 2>/dev/null)
[ "$serial" = vmlab-results ] || { echo "vmlab: /dev/vda is not the results disk (serial \"$serial\")" >/dev/console; poweroff -f; }
# The scenario's persistent disk (Scenario.Disk), when it has one: /dev/vdb.
if [ -e /vmlab/disk ]; then
	while [ ! -b /dev/vdb ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -b /dev/vdb ] || fail "no persistent disk /dev/vdb"
	serial=$(cat /sys/block/vdb/serial 2>/dev/null)
	[ "$serial" = vmlab-disk ] || fail "/dev/vdb is not the persistent disk (serial \"$serial\")"
fi

mods=$(cat /vmlab/modules)
if [ -n "$mods" ] && ! modprobe -a $mods 2>$R/modprobe.err; then
	for m in $mods; do
		modprobe "$m" 2>$R/modprobe.err || fail "modprobe $m failed: $(cat $R/modprobe.err)"
	done
fi

# The scenario's output also goes to the console, so a hung run leaves a trace.
tail -f $R/stdout $R/stderr >/dev/console 2>&1 &
tailpid=$!
cd /
sh /vmlab/script </dev/null >$R/stdout 2>$R/stderr
echo $? >$R/status
finish
