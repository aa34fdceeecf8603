package state

// Boot is what a host keeps for its next boot, as its agent read it: the
// files lvsctl writes so that what it applied comes back after a restart
// without lvsctl, and what else on the host acts at boot on the same
// objects.
type Boot struct {
	// Unavailable says why nothing can be persisted on this host ("" when
	// it can): an agent in a network namespace without a name, which no
	// boot can enter again.
	Unavailable string `json:"unavailable,omitempty"`
	// Systemd reports whether systemd runs this host (/run/systemd/system).
	Systemd bool `json:"systemd"`
	// Exe is the agent program the unit starts; Netns and StateDir are the
	// arguments it is started with ("" for the defaults).
	Exe string `json:"exe"`
	// ExeRisk says why someone other than root could change Exe, which the
	// unit runs as root at every boot ("" when only root can).
	ExeRisk  string `json:"exeRisk,omitempty"`
	Netns    string `json:"netns,omitempty"`
	StateDir string `json:"stateDir,omitempty"`

	SysctlFile BootFile `json:"sysctlFile"`
	StateFile  BootFile `json:"stateFile"`
	Unit       BootFile `json:"unit"`
	// UnitEnabled: the unit's link in multi-user.target.wants exists and
	// names the unit.
	UnitEnabled bool `json:"unitEnabled"`
	// UnitLink is the path of that link.
	UnitLink string `json:"unitLink"`

	// Sysctls are the assignments the host's boot-time sysctl configuration
	// makes, in the order systemd-sysctl applies them (the last one of a key
	// wins), lvsctl's own file included.
	Sysctls []SysctlSetting `json:"sysctls,omitempty"`
	// SysctlWarnings say what of that configuration could not be read (a
	// file too large, a line too long), so the notes may miss something.
	SysctlWarnings []string `json:"sysctlWarnings,omitempty"`
	// Restorers are the distribution's own services that restore an IPVS
	// table at boot.
	Restorers []Restorer `json:"restorers,omitempty"`
}

// BootFile is one file lvsctl owns for boot: where it is and what it holds.
type BootFile struct {
	Path    string `json:"path"`
	Exists  bool   `json:"exists"`
	Content string `json:"content,omitempty"`
}

// SysctlSetting is one assignment in a sysctl configuration file.
type SysctlSetting struct {
	Key   string `json:"key"` // dotted form; may hold glob characters, as systemd-sysctl allows
	Value string `json:"value"`
	File  string `json:"file"` // the path read (as the host names it, not resolved)
	Line  int    `json:"line"`
	// IgnoreFailure: the line starts with "-", so a key the kernel lacks is
	// not an error.
	IgnoreFailure bool `json:"ignoreFailure,omitempty"`
}

// Restorer is a distribution service that restores an IPVS table at boot.
type Restorer struct {
	Name      string `json:"name"`      // ipvsadm.service, /etc/init.d/ipvsadm
	RulesFile string `json:"rulesFile"` // /etc/sysconfig/ipvsadm, /etc/ipvsadm.rules
	Enabled   bool   `json:"enabled"`   // it will run at the next boot
	// SavesAtStop: it writes the live table into RulesFile when stopped
	// (RHEL's ipvsadm.service), so whatever lvsctl applied comes back from
	// it too.
	SavesAtStop bool   `json:"savesAtStop,omitempty"`
	Why         string `json:"why,omitempty"` // how lvsctl found it, for the plan's note
}
