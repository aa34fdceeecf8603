package main

import (
	"io"
	"strings"

	"github.com/lvsctl/lvsctl/applier"
	"github.com/lvsctl/lvsctl/planner"
)

// applyReport is apply -o json: the plan that was applied, and what became
// of it: each step done, the one that failed, each step undone and each that
// could not be.
type applyReport struct {
	FormatVersion string `json:"format_version"`
	// Outcome is "applied" (every step done), "no-changes" (the plan was
	// empty), "rolled-back" (a step failed or apply was interrupted, and
	// every step done was undone) or "rollback-incomplete" (some could not
	// be: notUndone lists them).
	Outcome string   `json:"outcome"`
	OK      bool     `json:"ok"` // applied or no-changes
	Plan    planJSON `json:"plan"`
	// Done are the steps done, in order; when the apply failed, they were
	// then undone, except those in notUndone.
	Done      []applyStep       `json:"done"`
	Failed    *applier.Failure  `json:"failed"` // null when none failed
	Undone    []applyStep       `json:"undone"` // in the order they were undone
	NotUndone []applier.Failure `json:"notUndone"`
	// DrainTimeouts are drains that ended at --drain-timeout with
	// connections left (which the delete that followed cut).
	DrainTimeouts []string `json:"drainTimeouts"`
	// Writes are the operations sent to each host, undos included.
	Writes map[string]int `json:"writes"`
}

type applyStep struct {
	Host string `json:"host"`
	Step string `json:"step"`
}

// Outcomes of an apply.
const (
	outcomeApplied            = "applied"
	outcomeNoChanges          = "no-changes"
	outcomeRolledBack         = "rolled-back"
	outcomeRollbackIncomplete = "rollback-incomplete"
)

// writeApplyJSON prints apply's JSON report: the plan p and what the applier
// reported about it (r nil: the plan was empty, nothing was applied).
func writeApplyJSON(w io.Writer, p *planner.Plan, r *applier.Report) error {
	v := applyReport{FormatVersion: formatVersion, Plan: planView(p), Done: []applyStep{}, Undone: []applyStep{},
		NotUndone: []applier.Failure{}, DrainTimeouts: []string{}, Writes: map[string]int{}}
	v.Plan.FormatVersion = "" // the report's own says it
	switch {
	case r == nil:
		v.Outcome, v.OK = outcomeNoChanges, true
		return writeJSON(w, v)
	case r.OK():
		v.Outcome, v.OK = outcomeApplied, true
	case len(r.NotUndone) == 0:
		v.Outcome = outcomeRolledBack
	default:
		v.Outcome = outcomeRollbackIncomplete
	}
	for _, s := range r.Done {
		v.Done = append(v.Done, splitStep(s))
	}
	for _, s := range r.Undone {
		v.Undone = append(v.Undone, splitStep(s))
	}
	v.Failed = r.Failed
	v.NotUndone = append(v.NotUndone, r.NotUndone...)
	v.DrainTimeouts = append(v.DrainTimeouts, r.Drained...)
	for h, n := range r.Writes {
		v.Writes[h] = n
	}
	return writeJSON(w, v)
}

// splitStep splits the applier's "host: step" (a host name has no colon).
func splitStep(s string) applyStep {
	host, step, _ := strings.Cut(s, ": ")
	return applyStep{Host: host, Step: step}
}
