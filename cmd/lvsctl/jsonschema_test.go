package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lvsctl/lvsctl/applier"
	"github.com/lvsctl/lvsctl/internal/fakehost"
	"github.com/lvsctl/lvsctl/internal/op"
	"github.com/lvsctl/lvsctl/internal/state"
	"github.com/lvsctl/lvsctl/planner"
)

// The JSON Schemas of every -o json document, in schema/json.
var jsonSchemas = []string{"plan", "apply", "drift", "validate", "validate-show"}

// outputSchema compiles schema/json/NAME.json, with formats asserted.
func outputSchema(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	path, err := filepath.Abs(filepath.Join("../../schema/json", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(path)
	if err != nil {
		t.Fatalf("schema %s: %v", name, err)
	}
	return s
}

// checkJSON validates one document against schema/json/NAME.json.
func checkJSON(t *testing.T, name, doc string) {
	t.Helper()
	if err := validateAgainst(t, name, doc); err != nil {
		t.Errorf("%s output does not match schema/json/%s.json: %v\n%s", name, name, err, doc)
	}
}

func validateAgainst(t *testing.T, name, doc string) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return outputSchema(t, name).Validate(v)
}

func TestJSONSchemasCompile(t *testing.T) {
	for _, name := range jsonSchemas {
		outputSchema(t, name)
	}
	files, _ := filepath.Glob("../../schema/json/*.json")
	if len(files) != len(jsonSchemas) {
		t.Errorf("schema/json has %d files, the tests know %d: %v", len(files), len(jsonSchemas), files)
	}
}

// validate -o json for every example and for a broken definition; validate
// --show -o json likewise.
func TestValidateJSON(t *testing.T) {
	dirs, _ := filepath.Glob("../../examples/*")
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "cluster.cue")); err != nil {
			continue // not a cluster (examples/monitoring)
		}
		code, out, errOut := lvsctl(t, "validate", "-o", "json", dir)
		if code != 0 || errOut != "" {
			t.Errorf("validate -o json %s: exit %d, %s", dir, code, errOut)
		}
		checkJSON(t, "validate", out)
		var v validateReport
		if err := json.Unmarshal([]byte(out), &v); err != nil || !v.Valid || v.FormatVersion != "1.5" || v.Summary == nil || v.Summary.Hosts == 0 {
			t.Errorf("validate -o json %s: %v\n%s", dir, err, out)
		}
		code, out, errOut = lvsctl(t, "validate", "--show", "-o", "json", dir)
		if code != 0 || errOut != "" {
			t.Errorf("validate --show -o json %s: exit %d, %s", dir, code, errOut)
		}
		checkJSON(t, "validate-show", out)
		if err := validateAgainst(t, "validate", out); err == nil {
			t.Errorf("validate's schema accepts validate --show's output (hosts)")
		}
	}

	// Two problems: the scheduler, and then (with it fixed) the LVS rule.
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/direct-routing/cluster.cue")
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(src), `scheduler: "wrr"`, `scheduler: "wrrr"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "cluster.cue"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, show := range []bool{false, true} {
		args, schema := []string{"validate", "-o", "json", dir}, "validate"
		if show {
			args, schema = append(args, "--show"), "validate-show"
		}
		code, out, errOut := lvsctl(t, args...)
		if code != 1 || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
		checkJSON(t, schema, out)
		var v validateReport
		json.Unmarshal([]byte(out), &v)
		want := diagnostic{Severity: "error", File: filepath.Join(dir, "cluster.cue"), Line: 35, Column: 14,
			Field: "directors.director.services.web.scheduler", Message: `"wrrr" is not allowed`}
		if v.Valid || len(v.Diagnostics) != 1 || !strings.HasPrefix(v.Diagnostics[0].Message, want.Message) {
			t.Fatalf("%v: %s", args, out)
		}
		got := v.Diagnostics[0]
		got.Message = want.Message
		if got != want {
			t.Errorf("%v: diagnostic %+v, want %+v", args, got, want)
		}
	}
	fixed := strings.Replace(string(src), `weight: 5, forward: "dr"`, `weight: 5, forward: "dr", lowerThreshold: 5`, 1)
	if err := os.WriteFile(filepath.Join(dir, "cluster.cue"), []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := lvsctl(t, "validate", "-o", "json", dir)
	checkJSON(t, "validate", out)
	if code != 1 || !strings.Contains(out, `"field": "directors.director.services.web.realServers.rs1.lowerThreshold"`) || !strings.Contains(out, `"line": 39`) {
		t.Errorf("LVS rule: exit %d\n%s", code, out)
	}

	// A problem with no place in a file.
	code, out, _ = lvsctl(t, "validate", "-o", "json", filepath.Join(t.TempDir(), "missing"))
	checkJSON(t, "validate", out)
	if code != 1 || !strings.Contains(out, `"message": "no such directory"`) || !strings.Contains(out, `"line": 0`) {
		t.Errorf("missing directory: exit %d\n%s", code, out)
	}
}

// bootFakes are the direct-routing example's hosts, empty, each reporting
// the files kept for boot as an agent on systemd does.
func bootPlan(t *testing.T) *planner.Plan {
	desired, f := newFakes(t, "direct-routing")
	live := f.live(desired)
	for name := range f {
		f[name].Boot = fakehost.NewBoot()
		live[name].Boot = f[name].Boot
	}
	p, err := planner.MakeWith(desired, live, planner.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Plans of every kind, printed as plan -o json prints them: each matches
// the schema, and every action has its words.
func TestPlanJSONSchema(t *testing.T) {
	cases := map[string]*planner.Plan{"boot": bootPlan(t), "empty": {}}
	for name, mk := range planCases {
		cases[name] = mk(t)
	}
	seen := map[planner.Action]bool{}
	kinds := map[string]bool{}
	for name, p := range cases {
		var out bytes.Buffer
		if err := writePlanJSON(&out, p); err != nil {
			t.Fatal(err)
		}
		checkJSON(t, "plan", out.String())
		var v struct {
			FormatVersion string `json:"format_version"`
			Changes       []struct {
				Action  planner.Action
				Actions []string
				Kind    string
			}
		}
		if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.FormatVersion != formatVersion {
			t.Fatalf("%s: %v\n%s", name, err, out.String())
		}
		for _, c := range v.Changes {
			seen[c.Action] = true
			kinds[c.Kind] = true
			if want := map[planner.Action][]string{planner.Create: {"create"}, planner.Update: {"update"},
				planner.Delete: {"delete"}, planner.Replace: {"delete", "create"}}[c.Action]; !slices.Equal(c.Actions, want) {
				t.Errorf("%s: action %s has actions %v, want %v", name, c.Action, c.Actions, want)
			}
		}
	}
	for _, a := range []planner.Action{planner.Create, planner.Update, planner.Delete, planner.Replace} {
		if !seen[a] {
			t.Errorf("no case has a %s change", a)
		}
	}
	for _, k := range []string{"sysctl file", "boot state", "systemd unit"} {
		if !kinds[k] {
			t.Errorf("no case has a %q change", k)
		}
	}
}

// fakeApplyHost runs an applier's operations on a fake host.
type fakeApplyHost struct{ *fakehost.Host }

func (h fakeApplyHost) Do(o op.Op) error { return h.Apply(o) }
func (h fakeApplyHost) Conns(state.ServiceKey, netip.AddrPort) (uint32, error) {
	return 0, nil
}

// applyReportFor applies the direct-routing example to empty fake hosts,
// failing (when failAt > 0) at that operation on the director, and with
// undo failing when badUndo.
func applyReportFor(t *testing.T, failAt int, badUndo bool) (*planner.Plan, *applier.Report) {
	desired, f := newFakes(t, "direct-routing")
	p := f.plan(t, desired, planner.Options{})
	hosts := map[string]applier.Host{}
	for name, h := range f {
		hosts[name] = fakeApplyHost{h}
	}
	n, failing := 0, false
	f["director"].Fail = func(o op.Op) error {
		if failing {
			if badUndo {
				return errors.New("the host went away")
			}
			return nil
		}
		if n++; n == failAt {
			failing = true
			return errors.New("injected failure")
		}
		return nil
	}
	a := &applier.Applier{Hosts: hosts}
	return p, a.Apply(t.Context(), p)
}

// apply's JSON report, for an apply that worked, one rolled back, one whose
// rollback could not finish, and an empty plan.
func TestApplyJSONSchema(t *testing.T) {
	type want struct {
		outcome                        string
		done, undone, notUndone, fails bool
	}
	cases := []struct {
		name    string
		failAt  int
		badUndo bool
		want    want
	}{
		{"applied", 0, false, want{outcomeApplied, true, false, false, false}},
		{"rolled back", 3, false, want{outcomeRolledBack, true, true, false, true}},
		{"rollback incomplete", 3, true, want{outcomeRollbackIncomplete, true, true, true, true}}, // the real servers' steps were undone
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, r := applyReportFor(t, c.failAt, c.badUndo)
			var out bytes.Buffer
			if err := writeApplyJSON(&out, p, r); err != nil {
				t.Fatal(err)
			}
			checkJSON(t, "apply", out.String())
			var v applyReport
			if err := json.Unmarshal(out.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			got := want{v.Outcome, len(v.Done) > 0, len(v.Undone) > 0, len(v.NotUndone) > 0, v.Failed != nil}
			if got != c.want {
				t.Errorf("got %+v, want %+v\n%s", got, c.want, out.String())
			}
			for _, s := range append(v.Done, v.Undone...) {
				if s.Host == "" || s.Step == "" || strings.Contains(s.Host, " ") {
					t.Errorf("step %+v", s)
				}
			}
			if c.want.fails && (v.Failed.Host != "director" || v.Failed.Error == "") {
				t.Errorf("failed: %+v", v.Failed)
			}
		})
	}
	var out bytes.Buffer
	if err := writeApplyJSON(&out, &planner.Plan{}, nil); err != nil {
		t.Fatal(err)
	}
	checkJSON(t, "apply", out.String())
	if !strings.Contains(out.String(), `"outcome": "no-changes"`) {
		t.Errorf("empty plan:\n%s", out.String())
	}
}

// A schema that cannot fail proves nothing: each of these changes to a real
// output must be refused.
func TestJSONSchemasRefuse(t *testing.T) {
	var plan bytes.Buffer
	if err := writePlanJSON(&plan, planCases["warnings"](t)); err != nil {
		t.Fatal(err)
	}
	p, r := applyReportFor(t, 3, true)
	var apply bytes.Buffer
	if err := writeApplyJSON(&apply, p, r); err != nil {
		t.Fatal(err)
	}
	_, validate, _ := lvsctl(t, "validate", "-o", "json", "../../examples/nat")
	_, invalid, _ := lvsctl(t, "validate", "-o", "json", filepath.Join(t.TempDir(), "missing"))
	_, show, _ := lvsctl(t, "validate", "--show", "-o", "json", "../../examples/firewall-marks")
	drift := `{"format_version": "1.0", "drift": true, "checked": "2026-01-02T03:04:05Z",
		"objects": [{"host": "rs1", "kind": "sysctl", "object": "net.ipv4.conf.all.arp_ignore", "action": "~", "actions": ["update"],
			"fields": [{"name": "value", "before": "0", "after": "1"}]}],
		"notes": [], "unknown": [], "hosts": [{"host": "rs1", "checked": true, "objects": 1}]}`
	checkJSON(t, "drift", drift)

	cases := []struct {
		schema, doc, name string
		edit              func(m map[string]any)
	}{
		{"plan", plan.String(), "no format_version", func(m map[string]any) { delete(m, "format_version") }},
		{"plan", plan.String(), "format_version 2.0", func(m map[string]any) { m["format_version"] = "2.0" }},
		{"plan", plan.String(), "a change without actions", func(m map[string]any) { change(m, 0)["actions"] = nil; delete(change(m, 0), "actions") }},
		{"plan", plan.String(), "a wrong action word", func(m map[string]any) { change(m, 0)["actions"] = []any{"modify"} }},
		{"plan", plan.String(), "actions that contradict action", func(m map[string]any) {
			c := change(m, 0)
			c["actions"] = []any{"create"}
			if c["action"] == "+" {
				c["actions"] = []any{"delete"}
			}
		}},
		{"plan", plan.String(), "a replacement in the wrong order", func(m map[string]any) { replacement(t, m)["actions"] = []any{"create", "delete"} }},
		{"plan", plan.String(), "an unknown action symbol", func(m map[string]any) { change(m, 0)["action"] = "*" }},
		{"plan", plan.String(), "no summary.bootAdd", func(m map[string]any) { delete(m["summary"].(map[string]any), "bootAdd") }},
		{"plan", plan.String(), "a change without host", func(m map[string]any) { delete(change(m, 0), "host") }},
		{"plan", plan.String(), "a misspelt field", func(m map[string]any) { change(m, 0)["reason"] = "x" }},
		{"apply", apply.String(), "no notUndone", func(m map[string]any) { delete(m, "notUndone") }},
		{"apply", apply.String(), "an unknown outcome", func(m map[string]any) { m["outcome"] = "partly" }},
		{"apply", apply.String(), "ok with a failure", func(m map[string]any) { m["ok"] = true }},
		{"apply", apply.String(), "rollback-incomplete with nothing left", func(m map[string]any) { m["notUndone"] = []any{} }},
		{"apply", apply.String(), "a failure without error", func(m map[string]any) { delete(m["failed"].(map[string]any), "error") }},
		{"apply", apply.String(), "a wrong action word in the plan", func(m map[string]any) { change(m["plan"].(map[string]any), 0)["actions"] = []any{"change"} }},
		{"validate", validate, "no valid", func(m map[string]any) { delete(m, "valid") }},
		{"validate", validate, "valid without summary", func(m map[string]any) { delete(m, "summary") }},
		{"validate", invalid, "a diagnostic without line", func(m map[string]any) { delete(m["diagnostics"].([]any)[0].(map[string]any), "line") }},
		{"validate", invalid, "invalid without diagnostics", func(m map[string]any) { m["diagnostics"] = []any{} }},
		{"validate-show", show, "valid without hosts", func(m map[string]any) { delete(m, "hosts") }},
		{"validate-show", show, "a destination without weight", func(m map[string]any) {
			svc := m["hosts"].([]any)[0].(map[string]any)["services"].([]any)[0].(map[string]any)
			delete(svc["destinations"].([]any)[0].(map[string]any), "weight")
		}},
		{"drift", drift, "no format_version", func(m map[string]any) { delete(m, "format_version") }},
		{"drift", drift, "a wrong action word", func(m map[string]any) { m["objects"].([]any)[0].(map[string]any)["actions"] = []any{"fix"} }},
		{"drift", drift, "drift without objects", func(m map[string]any) { m["objects"] = []any{} }},
		{"drift", drift, "no unknown", func(m map[string]any) { delete(m, "unknown") }},
		{"drift", drift, "a time that is not one", func(m map[string]any) { m["checked"] = "yesterday" }},
		{"drift", drift, "an unchecked host with objects", func(m map[string]any) {
			m["hosts"].([]any)[0].(map[string]any)["checked"] = false
		}},
	}
	for _, c := range cases {
		t.Run(c.schema+": "+c.name, func(t *testing.T) {
			if err := validateAgainst(t, c.schema, c.doc); err != nil {
				t.Fatalf("the unedited document fails: %v", err)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(c.doc), &m); err != nil {
				t.Fatal(err)
			}
			c.edit(m)
			b, _ := json.Marshal(m)
			if err := validateAgainst(t, c.schema, string(b)); err == nil {
				t.Errorf("schema/json/%s.json accepts a document with %s", c.schema, c.name)
			}
		})
	}
}

func change(m map[string]any, i int) map[string]any {
	return m["changes"].([]any)[i].(map[string]any)
}

func replacement(t *testing.T, m map[string]any) map[string]any {
	for _, c := range m["changes"].([]any) {
		if c.(map[string]any)["action"] == "-/+" {
			return c.(map[string]any)
		}
	}
	t.Fatal("no replacement in the plan")
	return nil
}
