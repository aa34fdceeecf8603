package planner

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/lvsctl/lvsctl/internal/boot"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// The files kept for boot are planned after everything else, so they are
// written only once the host is in the state they describe, and put back by
// a rollback of anything before them.
const phaseBoot = phaseCleanup + 1

// The kinds of the changes to files kept for boot. They are objects of the
// plan like any other, counted apart from the kernel's objects (BootCounts).
const (
	KindSysctlFile = "sysctl file"
	KindBootState  = "boot state"
	KindUnit       = "systemd unit"
)

// IsBoot reports whether a change is to a file kept for boot.
func (c *Change) IsBoot() bool {
	return c.Kind == KindSysctlFile || c.Kind == KindBootState || c.Kind == KindUnit
}

// BootCounts returns how many files kept for boot the plan adds, changes and
// removes.
func (p *Plan) BootCounts() (add, change, destroy int) { return p.count(true) }

// bootFiles plans the host's files kept for boot: lvsctl's sysctl file, the
// state file and the unit, as the host's boot setting and its desired state
// say; and notes what else on the host acts on the same objects at boot.
func (h *hostPlan) bootFiles() {
	b := h.l.Boot
	if b == nil {
		return
	}
	mode := h.d.Boot
	if mode == "" {
		mode = boot.Systemd
	}
	var keep *state.Host
	if mode != boot.None {
		keep = boot.Persisted(h.d)
	}
	if b.Unavailable != "" {
		if keep != nil {
			h.note("nothing is kept for boot here: %s; after a restart, run lvsctl apply again", b.Unavailable)
		}
		return
	}
	w := boot.Where{Netns: b.Netns, StateDir: b.StateDir}
	why := []string{fmt.Sprintf("kept for boot (boot: %q)", mode)}
	gone := "nothing to keep for boot any more"
	switch {
	case h.d.Retired:
		gone = "host retired: nothing is kept for boot"
	case mode == boot.None:
		gone = `boot: "none": nothing is kept for boot`
	}
	var sysctls, stateFile, unit []byte
	if keep != nil {
		sysctls = boot.RenderSysctls(keep.Sysctls)
		stateFile = boot.RenderState(keep)
		if mode == boot.Systemd {
			unit = boot.RenderUnit(b.Exe, w)
		}
	}

	h.bootFile(KindSysctlFile, b.SysctlFile.Path, boot.SysctlFile, b.SysctlFile, false, sysctls, true, why, gone,
		func() string { return count(len(keep.Sysctls), "sysctl") },
		func() []Field { return sysctlFileFields(b.SysctlFile.Content, keep.Sysctls) })
	h.bootFile(KindBootState, b.StateFile.Path, boot.StateFile, b.StateFile, false, stateFile, true, why, gone,
		func() string { return stateSummary(keep) },
		func() []Field { return stateFileFields(b.StateFile.Content, keep) })
	unitGone := gone
	if keep != nil && mode == boot.Files {
		unitGone = `boot: "files": the host's own boot scripts run lvsctl restore`
	}
	h.bootFile(KindUnit, w.UnitName(), boot.UnitFile, b.Unit, b.UnitEnabled, unit, b.UnitEnabled, why, unitGone,
		func() string { return "enabled; runs " + boot.UnitExe(string(unit)) + " restore at boot" },
		func() []Field { return unitFields(b, unit) })

	if keep != nil {
		h.bootNotes(b, keep, mode, w)
	}
}

// bootFile plans one file: written when it should be there and differs (or,
// for the unit, is not enabled), removed when it should not be there.
func (h *hostPlan) bootFile(kind, object, file string, cur state.BootFile, enabled bool, want []byte, wantEnabled bool,
	why []string, gone string, detail func() string, fields func() []Field) {
	revert := op.Op{Kind: op.RevertBoot, Boot: &op.Boot{File: file, Existed: cur.Exists, SHA256: sha(cur.Content), Enabled: enabled}}
	switch {
	case want == nil && cur.Exists:
		rm := op.Op{Kind: op.RemoveBoot, Boot: &op.Boot{File: file}}
		h.add(phaseBoot, 0, &Change{Action: Delete, Kind: kind, Object: object, Why: []string{gone}, Steps: one(rm, revert)})
	case want == nil:
	case !cur.Exists:
		write := op.Op{Kind: op.WriteBoot, Boot: &op.Boot{File: file, Content: string(want), Enable: file == boot.UnitFile}}
		h.add(phaseBoot, 0, &Change{Action: Create, Kind: kind, Object: object, Detail: detail(), Why: why, Steps: one(write, revert)})
	case cur.Content != string(want) || (file == boot.UnitFile && !enabled):
		write := op.Op{Kind: op.WriteBoot, Boot: &op.Boot{File: file, Content: string(want), Enable: file == boot.UnitFile}}
		h.add(phaseBoot, 0, &Change{Action: Update, Kind: kind, Object: object, Fields: fields(), Why: why, Steps: one(write, revert)})
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// notLvsctls is the field of a file whose content lvsctl did not write.
var notLvsctls = Field{Name: "content", Before: "not what lvsctl writes (edited?)", After: "lvsctl's"}

func sysctlFileFields(cur string, want []state.Sysctl) []Field {
	old, err := boot.ParseSysctls([]byte(cur))
	if err != nil {
		return []Field{notLvsctls}
	}
	return keyedFields(sysctlLines(old), sysctlLines(want))
}

func sysctlLines(s []state.Sysctl) map[string]string {
	m := map[string]string{}
	for _, x := range s {
		m[x.Key] = x.Value
	}
	return m
}

// keyedFields lists, by key, what differs between two sets of described
// objects; "-" stands for absent.
func keyedFields(before, after map[string]string) []Field {
	var out []Field
	keys := map[string]bool{}
	for k := range before {
		keys[k] = true
	}
	for k := range after {
		keys[k] = true
	}
	for _, k := range sortedNames(keys) {
		b, inB := before[k]
		a, inA := after[k]
		if inB && inA && a == b {
			continue
		}
		if !inB {
			b = "-"
		}
		if !inA {
			a = "-"
		}
		out = append(out, Field{Name: k, Before: b, After: a})
	}
	return out
}

func stateSummary(h *state.Host) string {
	dests := 0
	for _, s := range h.Services {
		dests += len(s.Dests)
	}
	var parts []string
	for _, x := range []struct {
		n    int
		what string
	}{{len(h.Services), "service"}, {dests, "destination"}, {len(h.Addresses), "address"}, {len(h.Links), "link"},
		{len(h.Routes), "route"}, {len(h.MarkRules), "mark rule"}, {len(h.Sysctls), "sysctl"}} {
		if x.n > 0 {
			parts = append(parts, count(x.n, x.what))
		}
	}
	if h.Timeouts != nil {
		parts = append(parts, "ipvs timeouts")
	}
	if len(h.Daemons) > 0 {
		parts = append(parts, count(len(h.Daemons), "sync daemon"))
	}
	return strings.ReplaceAll(strings.Join(parts, ", "), "addresss", "addresses")
}

func stateFileFields(cur string, want *state.Host) []Field {
	old, err := boot.ParseState([]byte(cur))
	if err != nil {
		return []Field{notLvsctls}
	}
	f := keyedFields(stateLines(old), stateLines(want))
	for i := range f {
		for _, v := range []*string{&f[i].Before, &f[i].After} {
			if *v != "-" {
				*v = "(" + *v + ")"
			}
		}
	}
	if len(f) == 0 {
		return []Field{{Name: "format", Before: "another layout", After: "this lvsctl's"}}
	}
	return f
}

// stateLines describes every object of a state file by its identity, as the
// plan names objects.
func stateLines(h *state.Host) map[string]string {
	m := map[string]string{}
	for _, s := range h.Services {
		m["ipvs service "+s.Key.String()] = serviceDetail(s)
		for _, d := range s.Dests {
			m["destination "+destObject(s.Key, d)] = destDetail(d)
		}
	}
	for _, a := range h.Addresses {
		m["address "+addrObject(a)] = "present"
	}
	for _, l := range h.Links {
		m["link "+l.Name] = strings.TrimPrefix(l.Kind+", up", ", ")
	}
	for _, s := range h.Sysctls {
		m["sysctl "+s.Key] = s.Value
	}
	for _, r := range h.Routes {
		m["route "+r.Dst.String()] = "via " + r.Gateway.String()
	}
	for _, k := range h.MarkRules {
		m["mark rule "+markID(k)] = fmt.Sprintf("mark %d", k.Mark)
	}
	if t := h.Timeouts; t != nil {
		m["ipvs timeouts"] = fmt.Sprintf("tcp %d, tcpfin %d, udp %d", t.TCP, t.TCPFin, t.UDP)
	}
	for _, d := range h.Daemons {
		m[daemonKind+" "+d.State] = d.Describe()
	}
	if h.Exclusive {
		m["ownership"] = "exclusive"
	}
	return m
}

func unitFields(b *state.Boot, want []byte) []Field {
	var out []Field
	if b.Unit.Content != string(want) {
		old := boot.UnitExe(b.Unit.Content)
		w := boot.Where{Netns: b.Netns, StateDir: b.StateDir}
		if old != "" && boot.CheckExe(old) == nil && string(boot.RenderUnit(old, w)) == b.Unit.Content {
			out = append(out, Field{Name: "program", Before: old, After: boot.UnitExe(string(want))})
		} else {
			out = append(out, notLvsctls)
		}
	}
	if !b.UnitEnabled {
		out = append(out, Field{Name: "enabled", Before: "false", After: "true"})
	}
	return out
}

// bootNotes says what else acts at boot on what lvsctl keeps: systemd's
// absence, sysctl files that set lvsctl's keys to other values, and the
// distribution's own IPVS restore.
func (h *hostPlan) bootNotes(b *state.Boot, keep *state.Host, mode string, w boot.Where) {
	if mode == boot.Systemd && !b.Systemd {
		h.note("systemd does not run this host (no /run/systemd/system), so nothing starts %s at boot: run `%s` from the host's boot scripts, and set boot: \"files\" to skip the unit",
			w.UnitName(), boot.RestoreCommand(b.Exe, w))
	}
	if mode == boot.Systemd && b.ExeRisk != "" {
		h.note("%s runs %s as root at every boot, but %s: install lvsctl where only root can write (such as /usr/local/bin) and run it from there, or set agentPath",
			w.UnitName(), b.Exe, b.ExeRisk)
	}
	for _, w := range b.SysctlWarnings {
		h.note("boot-time sysctl configuration: %s (so a contradiction there may go unnoted)", w)
	}
	own := b.SysctlFile.Path
	ownBase := path.Base(own)
	want := sysctlLines(keep.Sysctls)
	for _, x := range b.Sysctls {
		// "-KEY" alone (an empty value) only excludes a key from globs.
		if path.Base(x.File) == ownBase || x.Value == "" {
			continue
		}
		var keys []string
		for _, s := range keep.Sysctls {
			if x.Value != s.Value && boot.KeyMatches(x.Key, s.Key) {
				keys = append(keys, s.Key)
			}
		}
		if len(keys) == 0 {
			continue
		}
		values := make([]string, len(keys))
		for i, k := range keys {
			values[i] = want[k]
		}
		ours := strings.Join(slices.Compact(values), " or ")
		of := ""
		if len(keys) > 1 || keys[0] != x.Key {
			of = " (for " + listSome(keys, 4) + ")"
		}
		// systemd-sysctl applies files in the order of their names (procps's
		// sysctl --system reads /etc/sysctl.conf last), and an assignment of
		// a key itself beats a glob whatever the order: lvsctl's file names
		// every key itself.
		base := path.Base(x.File)
		if x.Key == keys[0] && (base > ownBase || base == "sysctl.conf") {
			h.note("%s:%d sets %s = %s, and is read after %s at boot: from boot until lvsctl restore runs, and again whenever someone runs sysctl --system, the value is %s, not lvsctl's %s; remove that line",
				x.File, x.Line, x.Key, x.Value, own, x.Value, ours)
		} else {
			h.note("%s:%d sets %s = %s%s, which %s overrides at boot with %s; remove that line to keep one answer",
				x.File, x.Line, x.Key, x.Value, of, own, ours)
		}
	}
	if len(keep.Services) > 0 || keep.Exclusive {
		for _, r := range b.Restorers {
			if !r.Enabled {
				continue
			}
			text := r.Why
			if text == "" {
				text = fmt.Sprintf("%s restores %s at boot", r.Name, r.RulesFile)
			}
			also := ""
			if r.SavesAtStop {
				also = ", and it saves the live table there when it stops, lvsctl's services included"
			}
			h.note("%s%s. lvsctl restore runs after it and puts lvsctl's services back as declared; services only that file has stay (ownership: \"exclusive\" removes them). Disable %s when lvsctl owns this table",
				text, also, r.Name)
		}
	}
}
