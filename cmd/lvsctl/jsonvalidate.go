package main

import (
	"errors"
	"maps"
	"slices"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
	"github.com/lvsctl/lvsctl/schema"
)

// validateReport is validate -o json: whether the definition is valid, and
// why not, one diagnostic per problem.
type validateReport struct {
	FormatVersion string       `json:"format_version"`
	Valid         bool         `json:"valid"`
	Dir           string       `json:"dir"`
	Diagnostics   []diagnostic `json:"diagnostics"`
	// Warnings are what the definition leaves to the operator (a service VIP
	// not in vips, NAT without natGateway), per host; valid only.
	Warnings []planner.Note `json:"warnings"`
	// Summary counts what a valid definition declares; absent when invalid.
	Summary *validateSummary `json:"summary,omitempty"`
	// Hosts are, with --show, every object each host must have, with its
	// reasons; absent without --show and when invalid.
	Hosts []*state.Host `json:"hosts,omitempty"`
}

type validateSummary struct {
	Hosts     int `json:"hosts"`
	Directors int `json:"directors"`
	Services  int `json:"services"`
}

// diagnostic is one problem: where it is (file, 1-based line and column; ""
// and 0 when it has no place in a file), the CUE path of the field ("" when
// none) and what is wrong.
type diagnostic struct {
	Severity string `json:"severity"` // "error"
	File     string `json:"file"`
	Line     int    `json:"line"`
	Column   int    `json:"column"`
	Field    string `json:"field"`
	Message  string `json:"message"`
}

// validateJSON loads dir and prints validate's JSON (with show, with the
// hosts); an invalid definition prints its diagnostics and exits 1.
func validateJSON(cmd *cobra.Command, dir string, show bool, only string) error {
	loaded, err := schema.LoadWith(dir, limitsOf(cmd))
	if err != nil {
		r := validateReport{FormatVersion: formatVersion, Dir: dir, Diagnostics: []diagnostic{}, Warnings: []planner.Note{}}
		var probs schema.Problems
		if !errors.As(err, &probs) {
			probs = schema.Problems{{Msg: err.Error()}}
		}
		for _, p := range probs {
			// The message as its text line prints it: clipped, control
			// characters escaped (Problem.String tidies the whole line).
			msg := schema.Problem{Msg: p.Msg}.String()
			r.Diagnostics = append(r.Diagnostics, diagnostic{Severity: "error", File: p.File, Line: p.Line, Column: p.Column, Field: p.Field, Message: msg})
		}
		if err := writeJSON(cmd.OutOrStdout(), r); err != nil {
			return err
		}
		return exitError{1}
	}
	r := validateReport{FormatVersion: formatVersion, Valid: true, Dir: dir, Diagnostics: []diagnostic{}, Warnings: []planner.Note{},
		Summary: &validateSummary{len(loaded.Cluster.Hosts), len(loaded.Cluster.Directors), countServices(loaded.Cluster)}}
	for _, name := range slices.Sorted(maps.Keys(loaded.Hosts)) {
		for _, n := range loaded.Hosts[name].Notes {
			r.Warnings = append(r.Warnings, planner.Note{Host: name, Text: n})
		}
	}
	if show {
		r.Hosts = hostList(loaded)
		if only != "" {
			r.Hosts = slices.DeleteFunc(r.Hosts, func(h *state.Host) bool { return h.Name != only })
		}
	}
	return writeJSON(cmd.OutOrStdout(), r)
}
