package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

// A saved plan (plan --out FILE) is everything apply FILE needs to make
// exactly the changes that were reviewed, and to know when it no longer can:
// the plan, how to reach each host, what each host must have (to read it
// again the same way), the live state each host was planned against with a
// fingerprint of it, the definition's content hash and lvsctl's version.
// apply FILE reads the hosts again under their locks and refuses the plan
// when any fingerprint differs, naming the host and the object that moved.
// The file carries a SHA-256 of its own content, so a damaged file is
// refused before anything is read from it.
type savedPlan struct {
	Format        string                  `json:"format"`
	FormatVersion int                     `json:"format_version"`
	Lvsctl        string                  `json:"lvsctl_version"`
	Created       time.Time               `json:"created"`
	Definition    savedDefinition         `json:"definition"`
	Targets       []string                `json:"targets,omitempty"`
	Reach         map[string]*schema.Host `json:"reach"`   // how to reach each host planned
	Desired       map[string]*state.Host  `json:"desired"` // what each host must have (the gather asks for it)
	Live          map[string]*savedLive   `json:"live"`    // by host: what the plan was made against
	Plan          *planner.Plan           `json:"plan"`
	SHA256        string                  `json:"sha256"` // of this document with this field ""
}

type savedDefinition struct {
	Dir    string   `json:"dir"`
	SHA256 string   `json:"sha256"` // of the CUE files, by name and content
	Files  []string `json:"files"`
}

type savedLive struct {
	Fingerprint string        `json:"fingerprint"`
	Live        *planner.Live `json:"live"`
}

const (
	savedFormat        = "lvsctl saved plan"
	savedFormatVersion = 1
	maxSavedPlan       = 512 << 20
)

// definitionHash hashes the definition's files by base name and content.
func definitionHash(files []string) (string, []string, error) {
	h := sha256.New()
	var names []string
	for _, f := range slices.Sorted(slices.Values(files)) {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", nil, err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(f), len(b))
		h.Write(b)
		names = append(names, filepath.Base(f))
	}
	return hex.EncodeToString(h.Sum(nil)), names, nil
}

// fingerprint hashes what a host's agent reported, without what changes by
// itself (connection counters).
func fingerprint(l *planner.Live) string {
	b, _ := json.Marshal(stable(l))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// stable is l without connection counters.
func stable(l *planner.Live) *planner.Live {
	c := *l
	if l.Host != nil {
		h := *l.Host
		h.Services = nil
		for _, s := range l.Host.Services {
			x := *s
			x.Dests = nil
			for _, d := range s.Dests {
				y := *d
				y.Conns = nil
				x.Dests = append(x.Dests, &y)
			}
			h.Services = append(h.Services, &x)
		}
		c.Host = &h
	}
	return &c
}

// writeSavedPlan writes the plan s made, atomically, to path.
func writeSavedPlan(path string, s *session, p *planner.Plan, dir string) error {
	sum, files, err := definitionHash(s.loaded.Files)
	if err != nil {
		return fmt.Errorf("hashing the definition: %w", err)
	}
	sp := &savedPlan{Format: savedFormat, FormatVersion: savedFormatVersion, Lvsctl: versionString(), Created: time.Now().UTC().Truncate(time.Second),
		Definition: savedDefinition{Dir: dir, SHA256: sum, Files: files}, Targets: s.targets,
		Reach: map[string]*schema.Host{}, Desired: map[string]*state.Host{}, Live: map[string]*savedLive{}, Plan: p}
	for name, l := range s.live {
		sp.Reach[name] = s.loaded.Cluster.Hosts[name]
		sp.Desired[name] = s.loaded.Hosts[name]
		sp.Live[name] = &savedLive{Fingerprint: fingerprint(l), Live: l}
	}
	b, err := sealSaved(sp)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func sealSaved(sp *savedPlan) ([]byte, error) {
	sp.SHA256 = ""
	b, err := json.Marshal(sp)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	sp.SHA256 = hex.EncodeToString(sum[:])
	return json.MarshalIndent(sp, "", " ")
}

// readSavedPlan reads and checks a saved plan: whole, of this format, and
// written by this lvsctl.
func readSavedPlan(path string) (*savedPlan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSavedPlan+1))
	if err != nil {
		return nil, err
	}
	damaged := func(why string) error {
		return fmt.Errorf("%s is not a whole saved plan (%s); make a new one with lvsctl plan --out", path, why)
	}
	if len(b) > maxSavedPlan {
		return nil, damaged("it is larger than lvsctl writes")
	}
	var sp savedPlan
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&sp); err != nil {
		if strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
			return nil, damaged(err.Error())
		}
		return nil, damaged("it is not JSON")
	}
	if sp.Format != savedFormat {
		return nil, damaged("its format is not " + savedFormat)
	}
	want := sp.SHA256
	if _, err := sealSaved(&sp); err != nil || sp.SHA256 != want {
		return nil, damaged("its content does not match its SHA-256: damaged or edited")
	}
	if sp.FormatVersion != savedFormatVersion {
		return nil, fmt.Errorf("%s is a saved plan of format %d; this lvsctl reads format %d", path, sp.FormatVersion, savedFormatVersion)
	}
	if v := versionString(); sp.Lvsctl != v {
		return nil, fmt.Errorf("%s was written by lvsctl %s, and this is lvsctl %s: plan again with this lvsctl (a plan is applied by the version that made it)", path, sp.Lvsctl, v)
	}
	if sp.Plan == nil || len(sp.Live) == 0 {
		return nil, damaged("it holds no plan")
	}
	for name := range sp.Live {
		if sp.Reach[name] == nil || sp.Live[name] == nil || sp.Live[name].Live == nil {
			return nil, damaged("host " + name + " is incomplete")
		}
	}
	return &sp, nil
}

// isSavedPlanArg reports whether apply's argument names a file (a saved
// plan) rather than a definition's directory.
func isSavedPlanArg(args []string) bool {
	if len(args) != 1 {
		return false
	}
	fi, err := os.Stat(args[0])
	return err == nil && fi.Mode().IsRegular()
}

// stale compares the live state read now with the one a saved plan was made
// against, host by host: nil when every fingerprint matches, else an error
// that names each host and the objects that moved.
func stale(sp *savedPlan, now map[string]*planner.Live) error {
	var lines []string
	for _, name := range slices.Sorted(maps.Keys(sp.Live)) {
		was, cur := sp.Live[name], now[name]
		if cur == nil {
			lines = append(lines, fmt.Sprintf("  %s: could not be read", name))
			continue
		}
		if fingerprint(cur) == was.Fingerprint {
			continue
		}
		before, after := stable(was.Live), stable(cur)
		leaveExternal(sp.Desired[name], sp.Plan, name, before, after)
		if fingerprint(before) == fingerprint(after) {
			continue // only what a health checker owns moved
		}
		moved := planner.LiveDiff(before, after)
		if len(moved) == 0 {
			moved = []string{"its agent's report (nothing lvsctl names an object)"}
		}
		for i, m := range moved {
			if i == 5 {
				lines = append(lines, fmt.Sprintf("  %s: and %d more", name, len(moved)-i))
				break
			}
			lines = append(lines, fmt.Sprintf("  %s: %s", name, m))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return errors.New("the saved plan is stale: hosts changed since it was made, so it is not applied; nothing was changed. Plan again.\n" + strings.Join(lines, "\n"))
}

// leaveExternal takes out of two stable reports of a host (from stable) what
// a health checker owns and the saved plan does not touch, so that a checker
// at work does not make every saved plan stale: on a service declared with
// externallyManaged, the weights ("weight") and the destinations that only
// one report has ("presence"). A destination the plan changes, adds or
// deletes is compared whole, as its steps carry what the plan read.
func leaveExternal(desired *state.Host, p *planner.Plan, host string, before, after *planner.Live) {
	if desired == nil || before.Host == nil || after.Host == nil {
		return
	}
	type destID struct {
		k state.ServiceKey
		a netip.AddrPort
	}
	touched := map[destID]bool{}
	if p != nil {
		for _, c := range p.Changes {
			if c.Host != host {
				continue
			}
			for _, st := range c.Steps {
				ops := slices.Clone(st.Undo)
				if st.Op != nil {
					ops = append(ops, *st.Op)
				}
				for _, o := range ops {
					if o.ServiceKey != nil && o.Dest != nil {
						touched[destID{*o.ServiceKey, o.Dest.Addr}] = true
					}
				}
			}
		}
	}
	find := func(h *state.Host, k state.ServiceKey) *state.Service {
		for _, s := range h.Services {
			if s.Key == k {
				return s
			}
		}
		return nil
	}
	for _, want := range desired.Services {
		weight, presence := want.External(state.ExternalWeight), want.External(state.ExternalPresence)
		b, a := find(before.Host, want.Key), find(after.Host, want.Key)
		if (!weight && !presence) || b == nil || a == nil {
			continue
		}
		in := func(s *state.Service, d *state.Destination) bool {
			return slices.ContainsFunc(s.Dests, func(x *state.Destination) bool { return x.Addr == d.Addr })
		}
		for _, pair := range [][2]*state.Service{{b, a}, {a, b}} {
			s, other := pair[0], pair[1]
			s.Dests = slices.DeleteFunc(s.Dests, func(d *state.Destination) bool {
				return presence && !touched[destID{want.Key, d.Addr}] && !in(other, d)
			})
		}
		for _, s := range []*state.Service{b, a} {
			for _, d := range s.Dests {
				if weight && !touched[destID{want.Key, d.Addr}] {
					d.Weight = 0
				}
			}
		}
	}
}
