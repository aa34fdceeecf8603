# vmlab BootShell: a machine's own disk, and systemd's part at boot, for a
# scenario that reboots (Scenario.Disk; see boot.go). Shell functions for
# busybox sh; the script defines them by including this text.
#
#	persist_mount     formats the persistent disk /dev/vdb on first use,
#	                  mounts it at /persist and binds its folders over the
#	                  paths lvsctl persists to; makes /run/systemd/system
#	persist_umount    syncs and unmounts them, as a reboot does
#	boot_like_systemd applies every sysctl.d configuration (the root
#	                  namespace's, then each named namespace's), then runs
#	                  the enabled lvsctl-restore*.service units; logs under
#	                  /out/boot
#
# After persist_mount, $PERSIST_BOOT is the number of this boot of the disk
# (1 when it was formatted now).

PERSIST_DISK=/dev/vdb
# Folders on the disk, and where they are bound: what lvsctl writes for the
# next boot (sysctl.d files, per-namespace ones, units and their links, the
# state files and inventories).
PERSIST_BINDS='etc-sysctl.d:/etc/sysctl.d etc-netns:/etc/netns etc-systemd:/etc/systemd var-lib-lvsctl:/var/lib/lvsctl'

persist_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/mounts; }

persist_mount() {
	[ -b $PERSIST_DISK ] || { echo "persist_mount: no disk $PERSIST_DISK (Scenario.Disk is not set)" >&2; return 1; }
	mkdir -p /persist
	_fresh=0
	# The ext2 superblock's magic, 0xEF53 little-endian, at byte 1080.
	if [ "$(dd if=$PERSIST_DISK bs=1 skip=1080 count=2 2>/dev/null | od -An -tx1 | tr -d ' \n')" != 53ef ]; then
		mke2fs -F -L persist $PERSIST_DISK >/tmp/mke2fs.out 2>&1 || { echo "persist_mount: mke2fs: $(cat /tmp/mke2fs.out)" >&2; return 1; }
		_fresh=1
	fi
	# busybox's mke2fs makes ext2; the kernel's ext4 driver (built in)
	# mounts it.
	mount -t ext4 $PERSIST_DISK /persist 2>/tmp/mount.err || mount -t ext2 $PERSIST_DISK /persist 2>>/tmp/mount.err ||
		{ echo "persist_mount: mount $PERSIST_DISK: $(cat /tmp/mount.err)" >&2; return 1; }
	if [ $_fresh = 1 ]; then
		# A distribution's empty layout.
		mkdir -p /persist/etc-sysctl.d /persist/etc-netns /persist/etc-systemd/system/multi-user.target.wants /persist/var-lib-lvsctl
		echo 0 >/persist/vmlab-boots
	fi
	PERSIST_BOOT=$(($(cat /persist/vmlab-boots 2>/dev/null || echo 0) + 1))
	echo $PERSIST_BOOT >/persist/vmlab-boots
	for _b in $PERSIST_BINDS; do
		mkdir -p "/persist/${_b%%:*}" "${_b#*:}"
		mount --bind "/persist/${_b%%:*}" "${_b#*:}" || { echo "persist_mount: bind /persist/${_b%%:*} -> ${_b#*:} failed" >&2; return 1; }
	done
	# What sd_booted() looks for: the guest passes for a host that systemd
	# runs (this lab plays systemd's part: boot_like_systemd).
	mkdir -p /run/systemd/system
	echo "persist: boot $PERSIST_BOOT of $PERSIST_DISK$([ $_fresh = 1 ] && echo ', formatted now')"
}

persist_umount() {
	sync
	_rc=0
	for _m in /var/lib/lvsctl /etc/systemd /etc/netns /etc/sysctl.d /persist; do
		persist_mounted $_m || continue
		umount $_m 2>/tmp/umount.err || { echo "persist_umount: umount $_m: $(cat /tmp/umount.err)" >&2; _rc=1; }
	done
	sync
	return $_rc
}

# /run/vmlab-boot/sysctl is systemd-sysctl's part, run in one network
# namespace: every /etc/sysctl.d/*.conf in file-name order (the last
# assignment of a key wins), lines "key = value" or "-key = value" (a failure
# to set it is ignored), comments starting with # or ;. As systemd-sysctl
# does, a key the kernel does not have is only reported; any other failure
# without "-" is an error, and the exit status is 1. Keys are dotted
# (net.ipv4.conf.eth0/100.rp_filter names eth0.100) or slashed; glob
# characters in a key set every match.
mkdir -p /run/vmlab-boot
cat >/run/vmlab-boot/sysctl <<'VMLAB_SYSCTL'
rc=0
trim() { _t=${1#"${1%%[![:space:]]*}"}; printf '%s' "${_t%"${_t##*[![:space:]]}"}"; }
for f in /etc/sysctl.d/*.conf; do
	[ -f "$f" ] || continue
	echo "# $f"
	n=0
	while IFS= read -r line || [ -n "$line" ]; do
		n=$((n + 1))
		line=$(trim "$line")
		case $line in '' | '#'* | ';'*) continue ;; esac
		case $line in
		*=*) ;;
		*)
			echo "$f:$n: not an assignment, ignored: $line"
			continue
			;;
		esac
		key=$(trim "${line%%=*}")
		value=$(trim "${line#*=}")
		ign=
		case $key in -*)
			ign=-
			key=${key#-}
			;;
		esac
		first=${key%%[./]*}
		case ${key#"$first"} in
		/*) p=$key ;;
		*) p=$(printf '%s' "$key" | tr './' '/.') ;;
		esac
		set -- /proc/sys/$p # a glob sets every match
		for t in "$@"; do
			what="$ign$key = $value"
			[ "$t" = "/proc/sys/$p" ] || what="$what ($t)"
			if [ ! -e "$t" ]; then
				echo "$f:$n: $what: no such sysctl, ignored"
				continue
			fi
			if err=$( (echo "$value" >"$t") 2>&1); then
				echo "$f:$n: $what"
			elif [ -n "$ign" ]; then
				echo "$f:$n: $what: failed, ignored (-): $err"
			else
				echo "$f:$n: $what: FAILED: $err"
				rc=1
			fi
		done
	done <"$f"
done
exit $rc
VMLAB_SYSCTL

# boot_like_systemd plays systemd's part at boot, after the distribution's
# network configuration (namespaces, links, addresses) is up:
#  1. systemd-sysctl: the root namespace's /etc/sysctl.d, then, for each
#     namespace in /run/netns, `ip netns exec NAME` the same, which sees
#     /etc/netns/NAME/sysctl.d bound over /etc/sysctl.d (iproute2 binds
#     every entry of /etc/netns/NAME over its namesake in /etc, which must
#     exist). Output and status: /out/boot/sysctl.{out,code} and
#     /out/boot/sysctl-netns-NAME.{out,code}.
#  2. multi-user.target: each link lvsctl-restore*.service in
#     /etc/systemd/system/multi-user.target.wants, in name order: the
#     ExecStart= lines of the unit file it points to, run one after another
#     in /, with systemd's PATH only, stdin /dev/null; a leading "-" on the
#     command ignores its failure. Output and status: /out/boot/UNIT.out and
#     UNIT.code (the first failing command's status, or 0; "skipped" when
#     a ConditionPathExists= does not hold); the unit file is copied to
#     /out/boot/UNIT.unit.
# /out/boot/log sums it up; the status is 1 when anything failed.
#
# boot_like_systemd --root-sysctl-only leaves out step 1 in the named
# namespaces, as a real boot does: systemd-sysctl runs in the root namespace
# only, and nothing reads /etc/netns/NAME/sysctl.d unless told to.
boot_like_systemd() {
	mkdir -p /out/boot
	: >/out/boot/log
	_fail=0
	_c=0
	/bin/sh /run/vmlab-boot/sysctl >/out/boot/sysctl.out 2>&1 || _c=$?
	echo $_c >/out/boot/sysctl.code
	echo "sysctl (root namespace): exit $_c" >>/out/boot/log
	[ $_c = 0 ] || _fail=1
	for _ns in /run/netns/*; do
		[ -e "$_ns" ] && [ "$1" != --root-sysctl-only ] || continue
		_ns=${_ns##*/}
		_c=0
		/sbin/ip netns exec "$_ns" /bin/sh /run/vmlab-boot/sysctl >/out/boot/sysctl-netns-$_ns.out 2>&1 || _c=$?
		echo $_c >/out/boot/sysctl-netns-$_ns.code
		echo "sysctl (netns $_ns): exit $_c" >>/out/boot/log
		[ $_c = 0 ] || _fail=1
	done
	_wants=/etc/systemd/system/multi-user.target.wants
	for _link in $_wants/lvsctl-restore*.service; do
		[ -e "$_link" ] || [ -L "$_link" ] || continue
		_unit=${_link##*/}
		_o=/out/boot/$_unit
		_file=$(readlink "$_link") || _file=$_link # a copy instead of a link
		case $_file in /*) ;; *) _file=$_wants/$_file ;; esac
		if [ ! -f "$_file" ]; then
			echo "$_link points to $_file, which is no file" >$_o.out
			echo 127 >$_o.code
			echo "$_unit: no unit file ($_file): exit 127" >>/out/boot/log
			_fail=1
			continue
		fi
		cp "$_file" $_o.unit
		# ConditionPathExists=[!]PATH: a unit whose condition fails is
		# skipped, as systemd skips it ("|" triggering conditions are not
		# handled).
		_skip=
		for _p in $(sed -n 's/^[[:space:]]*ConditionPathExists=//p' "$_file"); do
			case $_p in
			!*) [ ! -e "${_p#!}" ] || _skip=$_p ;;
			*) [ -e "$_p" ] || _skip=$_p ;;
			esac
		done
		if [ -n "$_skip" ]; then
			echo "skipped: ConditionPathExists=$_skip does not hold" >$_o.out
			echo skipped >$_o.code
			echo "$_unit: skipped (ConditionPathExists=$_skip)" >>/out/boot/log
			continue
		fi
		sed -n 's/^[[:space:]]*ExecStart=//p' "$_file" >/tmp/vmlab-exec
		: >$_o.out
		_c=0
		_t0=$(cut -d' ' -f1 /proc/uptime)
		if [ ! -s /tmp/vmlab-exec ]; then
			echo "$_file has no ExecStart=" >$_o.out
			_c=127
		fi
		while IFS= read -r _cmd; do
			_ignore=
			while :; do # systemd's prefixes: - ignores failure; @ + ! : only change how it runs
				case $_cmd in
				-*) _ignore=1 _cmd=${_cmd#-} ;;
				[@+!:]*) _cmd=${_cmd#?} ;;
				*) break ;;
				esac
			done
			echo "+ $_cmd" >>$_o.out
			_cc=0
			(
				cd /
				eval "set -- $_cmd"
				exec /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
			) </dev/null >>$_o.out 2>&1 || _cc=$?
			if [ $_cc != 0 ] && [ -z "$_ignore" ]; then
				_c=$_cc
				break
			fi
		done </tmp/vmlab-exec
		echo $_c >$_o.code
		echo "$_unit: exit $_c ($(awk -v a=$_t0 '{ printf "%.1f", $1 - a }' /proc/uptime) s)" >>/out/boot/log
		[ $_c = 0 ] || _fail=1
	done
	cat /out/boot/log
	return $_fail
}
