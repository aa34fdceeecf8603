package scenario

// Reboots (issue 11): a scenario that reboots runs its boots as Runs of the
// VM sharing one vmlab.Scenario.Disk, with vmlab.BootShell (persist_mount,
// persist_umount, boot_like_systemd) and RebootShell in its script.

// RebootShell is the guest's toolkit for reboot scenarios, after Topology:
//
//	run NAME CMD...  runs CMD; its output (stdout and stderr) in /out/NAME,
//	                 its exit status in /out/NAME.code, its run time in
//	                 seconds in /out/NAME.secs
//	kept             prints every file lvsctl keeps for boot (sysctl.d files,
//	                 units and their links, boot state files), not its own
//	                 bookkeeping beside them
//	arpsysctls NS    arp_ignore and arp_announce of all, lo and eth0 in NS,
//	                 one line each: "all 1 2"
const RebootShell = `
run() {
	_n=$1; shift; _c=0; _t0=$(cut -d' ' -f1 /proc/uptime)
	"$@" > /out/$_n 2>&1 || _c=$?
	echo $_c > /out/$_n.code
	awk -v a=$_t0 '{ printf "%.1f\n", $1 - a }' /proc/uptime > /out/$_n.secs
}
kept() {
	for _f in /etc/sysctl.d/* /etc/netns/*/sysctl.d/* /etc/systemd/system/lvsctl-restore* \
		/etc/systemd/system/multi-user.target.wants/lvsctl-restore* \
		/var/lib/lvsctl/boot-host.json /var/lib/lvsctl/boot-netns-*.json; do
		if [ -L "$_f" ]; then
			echo "== $_f -> $(readlink "$_f")"
		elif [ -f "$_f" ]; then
			echo "== $_f"
			cat "$_f"
			echo
		fi
	done
}
arpsysctls() {
	ip netns exec $1 sh -c 'cd /proc/sys/net/ipv4/conf; for i in all lo eth0; do echo "$i $(cat $i/arp_ignore) $(cat $i/arp_announce)"; done'
}
`

// NATHosts are the NAT example's hosts in the lab.
const NATHosts = `	director: netns: "director"
	rs1: netns: "rs1"
	rs2: netns: "rs2"`

// NATNetwork is the guide's NAT network, as the distribution's network
// configuration brings it up at every boot: the client on bridge br0, the
// director on br0 (eth0) and br1 (eth1, 10.0.0.234), the real servers on br1
// with their default route via the director, and a name server on port 8080
// of each real server. It defines veth NAMESPACE BRIDGE IFNAME ADDRESS.
const NATNetwork = `
ip link add br0 type bridge && ip link set br0 up
ip link add br1 type bridge && ip link set br1 up
veth() {
	ip link add $1-$2 type veth peer name $3 netns $1
	ip link set $1-$2 master $2 up
	ip -n $1 link set $3 up
	ip -n $1 addr add $4 dev $3
}
for ns in client director rs1 rs2; do ip netns add $ns; ip -n $ns link set lo up; done
veth client br0 eth0 211.47.13.2/24
veth director br0 eth0 211.47.13.1/24
veth director br1 eth1 10.0.0.234/24
veth rs1 br1 eth0 10.0.0.101/24
veth rs2 br1 eth0 10.0.0.102/24
ip -n rs1 route add default via 10.0.0.234
ip -n rs2 route add default via 10.0.0.234
ip netns exec rs1 namesrv rs1 :8080 &
ip netns exec rs2 namesrv rs2 :8080 &
sleep 1
`

// StepsAWK prints, from lvsctl plan -o json, the number of the last
// operation an apply of that plan sends (the count LVSCTL_TEST_FAIL_AT
// uses): every step of every change that is an operation (not a drain), in
// order, then one inventory write per host whose inventory changes. It
// reads the JSON's indentation, which lvsctl fixes at two spaces; a
// scenario checks its answer against the decoded plan.
const StepsAWK = `awk '/^  "[a-zA-Z]+": /{ sec = $1 }
sec == "\"changes\":" && /^          "op": \{/ { n++ }
sec == "\"inventories\":" && /^    "[^"]+": \{/ { n++ }
END { print n + 0 }'`
