package planner

import (
	"fmt"
	"slices"

	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
)

// The IPVS connection synchronisation daemons. A daemon's identity is its
// state (master or backup): the kernel runs at most one of each, and cannot
// change a running one, so a daemon whose settings differ is replaced: the
// old one stopped, then the new one started. It starts after the services
// exist (phaseIPVS, after their destinations), and stops before any service
// is removed (first in phaseIPVSRemove), so a director being retired stops
// synchronising before its table empties.

// rankDaemonStop sorts a daemon's stop before everything else removed from
// the IPVS table.
const rankDaemonStop = -1

const daemonKind = "sync daemon"

// daemonReplaceWarning is what a replacement does to synchronisation.
const daemonReplaceWarning = "the kernel cannot change a running sync daemon: it is stopped, then started with the new settings; connections that change in between are not synchronised until they change again"

func (h *hostPlan) daemons() {
	if !h.l.IPVSAvailable {
		return
	}
	live := map[string]state.SyncDaemon{}
	for _, d := range h.l.Host.Daemons {
		live[d.State] = d
	}
	desired := map[string]bool{}
	for _, d := range h.d.Daemons {
		desired[d.State] = true
		want := bareDaemon(d)
		cur, ok := live[d.State]
		start := Step{Op: &op.Op{Kind: op.StartDaemon, Daemon: &want}, Undo: []op.Op{{Kind: op.StopDaemon, Daemon: &want}}}
		switch {
		case !ok:
			h.add(phaseIPVS, rankDaemon, &Change{Action: Create, Kind: daemonKind, Object: d.State, Detail: d.Describe(), Why: d.Why,
				Steps: []Step{start}})
		default:
			f := daemonFields(cur, d)
			if len(f) == 0 {
				continue
			}
			old := bareDaemon(cur)
			h.add(phaseIPVS, rankDaemon, &Change{Action: Replace, Kind: daemonKind, Object: d.State, Fields: f, Why: d.Why,
				Warning: daemonReplaceWarning,
				Steps: []Step{
					{Op: &op.Op{Kind: op.StopDaemon, Daemon: &old}, Undo: []op.Op{{Kind: op.StartDaemon, Daemon: &old}}},
					start,
				}})
		}
	}
	for _, st := range []string{state.SyncMaster, state.SyncBackup} {
		cur, ok := live[st]
		if !ok || desired[st] {
			continue
		}
		owned := slices.Contains(h.inv.Daemons, st)
		if !owned && !h.d.Exclusive {
			h.note("unmanaged %s sync daemon (%s): not in the configuration and not started by lvsctl, left alone", st, cur.Describe())
			continue
		}
		why := "no longer in the configuration"
		switch {
		case h.d.Retired:
			why = "host retired"
		case !owned:
			why = "not in the configuration, and this director is exclusive"
		}
		old := bareDaemon(cur)
		h.add(phaseIPVSRemove, rankDaemonStop, &Change{Action: Delete, Kind: daemonKind, Object: st, Detail: cur.Describe(), Why: []string{why},
			Steps: one(op.Op{Kind: op.StopDaemon, Daemon: &old}, op.Op{Kind: op.StartDaemon, Daemon: &old})})
	}
}

// bareDaemon is a daemon as an operation carries it: without reasons.
func bareDaemon(d state.SyncDaemon) state.SyncDaemon {
	d.Why = nil
	return d
}

// daemonFields lists what differs between a running daemon and the desired
// one. A setting the configuration leaves to the kernel (a maximum length of
// 0) is not compared, nor one the kernel does not report (before Linux 4.3:
// group, port, TTL and maximum length).
func daemonFields(cur, want state.SyncDaemon) []Field {
	var f []Field
	add := func(name, before, after string) {
		if before != after {
			f = append(f, Field{Name: name, Before: before, After: after})
		}
	}
	add("interface", cur.Interface, want.Interface)
	add("syncid", fmt.Sprint(cur.SyncID), fmt.Sprint(want.SyncID))
	if want.MaxLength != 0 && cur.MaxLength != 0 {
		add("maxlen", fmt.Sprint(cur.MaxLength), fmt.Sprint(want.MaxLength))
	}
	if want.Group.IsValid() && cur.Group.IsValid() {
		add("group", cur.Group.String(), want.Group.String())
	}
	if want.Port != 0 && cur.Port != 0 {
		add("port", fmt.Sprint(cur.Port), fmt.Sprint(want.Port))
	}
	if want.TTL != 0 && cur.TTL != 0 {
		add("ttl", fmt.Sprint(cur.TTL), fmt.Sprint(want.TTL))
	}
	return f
}
