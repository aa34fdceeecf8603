package ipvs

// Constants of include/uapi/linux/ip_vs.h.

const (
	familyName    = "IPVS"
	familyVersion = 1
)

// Commands.
const (
	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdGetService = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	cmdSetConfig  = 12
	cmdGetConfig  = 13
	cmdGetInfo    = 15
	cmdFlush      = 17
)

// Top-level attributes.
const (
	attrService       = 1
	attrDest          = 2
	attrDaemon        = 3
	attrTimeoutTCP    = 4
	attrTimeoutTCPFin = 5
	attrTimeoutUDP    = 6
)

// Service attributes.
const (
	svcAF        = 1
	svcProtocol  = 2
	svcAddr      = 3
	svcPort      = 4
	svcFWMark    = 5
	svcSchedName = 6
	svcFlags     = 7
	svcTimeout   = 8
	svcNetmask   = 9
	svcPEName    = 11
)

// Destination attributes.
const (
	destAddr         = 1
	destPort         = 2
	destFwdMethod    = 3
	destWeight       = 4
	destUThresh      = 5
	destLThresh      = 6
	destActiveConns  = 7
	destInactConns   = 8
	destPersistConns = 9
	destAddrFamily   = 11
	destTunType      = 13
	destTunPort      = 14
	destTunFlags     = 15
)

// Sync daemon attributes.
const (
	daemonState      = 1 // u32: stateMaster or stateBackup
	daemonMcastIfn   = 2 // NUL-terminated string
	daemonSyncID     = 3 // u32
	daemonSyncMaxLen = 4 // u16
	daemonMcastGroup = 5 // IPv4 address, network byte order
	daemonMcastGrp6  = 6 // IPv6 address, 16 bytes
	daemonMcastPort  = 7 // u16, host byte order
	daemonMcastTTL   = 8 // u8
)

// Sync daemon states (IP_VS_STATE_*).
const (
	stateMaster = 1
	stateBackup = 2
)

// ifNameMax is IP_VS_IFNAME_MAXLEN, with the terminating NUL.
const ifNameMax = 16

// Info attributes.
const (
	infoVersion     = 1
	infoConnTabSize = 2
)

// Service flags.
const (
	flagPersistent = 0x1
	flagHashed     = 0x2
	flagOnePacket  = 0x4
	flagSched1     = 0x8
	flagSched2     = 0x10
	flagSched3     = 0x20
)

// Forwarding methods (IP_VS_CONN_F_FWD_MASK values).
const (
	fwdMasq      = 0
	fwdLocalNode = 1
	fwdTunnel    = 2
	fwdDRoute    = 3
)

// Tunnel types and checksum flags.
const (
	tunIPIP = 0
	tunGUE  = 1
	tunGRE  = 2

	tunNoCsum  = 0
	tunCsum    = 1 << 0
	tunRemCsum = 1 << 1
)

const (
	afInet  = 2
	afInet6 = 10
)
