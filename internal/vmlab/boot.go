package vmlab

import _ "embed"

// BootShell is shell text for a scenario that reboots: a Script includes it
// (Script: vmlab.BootShell + "..."), and gets these functions:
//
//	persist_mount      the persistent disk (Scenario.Disk, /dev/vdb in the
//	                   guest), formatted on its first use (ext2, busybox
//	                   mke2fs), mounted at /persist, with its folders bound
//	                   over the paths lvsctl persists to: /etc/sysctl.d,
//	                   /etc/netns, /etc/systemd and /var/lib/lvsctl. It also
//	                   makes /run/systemd/system, so the guest passes for a
//	                   host that systemd runs. $PERSIST_BOOT is then the
//	                   disk's boot number (1 when it was formatted now).
//	persist_umount     sync, then unmount those binds and /persist, as a
//	                   clean reboot does; the status is 1 when one fails.
//	boot_like_systemd  systemd's part at boot, to be called once the
//	                   topology (the distribution's network configuration) is
//	                   up again: systemd-sysctl in the root namespace and in
//	                   each named namespace (ip netns exec NAME, which binds
//	                   /etc/netns/NAME/sysctl.d over /etc/sysctl.d), then
//	                   the enabled lvsctl-restore*.service units
//	                   (multi-user.target.wants), in name order. Every step
//	                   leaves its output and status under /out/boot (log,
//	                   sysctl.out, sysctl-netns-NAME.out, UNIT.out, UNIT.code,
//	                   UNIT.unit); the status is 1 when anything failed.
//	                   With --root-sysctl-only, systemd-sysctl runs in the
//	                   root namespace only, as on a real boot.
//
// boot.sh says in detail what each does.
//
//go:embed boot.sh
var BootShell string
