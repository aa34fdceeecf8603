package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// lvsctl runs the command in-process and returns its exit status and output.
func lvsctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// exampleDirs are the cluster definitions under examples/: the folders that
// hold CUE files (examples/ci and examples/monitoring hold other things).
func exampleDirs() []string {
	dirs, _ := filepath.Glob("../../examples/*")
	var out []string
	for _, d := range dirs {
		if cue, _ := filepath.Glob(filepath.Join(d, "*.cue")); len(cue) > 0 {
			out = append(out, d)
		}
	}
	return out
}

func TestValidateExamples(t *testing.T) {
	dirs := exampleDirs()
	if len(dirs) < 5 {
		t.Fatalf("found %d examples", len(dirs))
	}
	for _, dir := range dirs {
		code, out, errOut := lvsctl(t, "validate", dir)
		if code != 0 || errOut != "" || !strings.Contains(out, ": valid (") {
			t.Errorf("validate %s: exit %d\nstdout: %s\nstderr: %s", dir, code, out, errOut)
		}
	}
}

// TestShowGolden compares `validate --show` for every example with
// testdata/show/NAME.txt; run `go test ./cmd/lvsctl -update` to rewrite them.
func TestShowGolden(t *testing.T) {
	dirs := exampleDirs()
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			code, out, errOut := lvsctl(t, "validate", "--show", dir)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr: %s", code, errOut)
			}
			golden := filepath.Join("testdata", "show", name+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), out); diff != "" {
				t.Errorf("validate --show %s (-want +got):\n%s", name, diff)
			}
		})
	}
}

func TestShowJSON(t *testing.T) {
	code, out, _ := lvsctl(t, "validate", "--show", "-o", "json", "../../examples/nat")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var hosts []struct {
		Name     string
		Services []struct {
			Key struct {
				Protocol string
				Address  string
				Port     int
			}
			Scheduler    string
			Destinations []struct {
				Address string
				Weight  int
				Forward string
			}
		}
		Routes []struct{ Destination, Gateway string }
	}
	var report struct {
		FormatVersion string `json:"format_version"`
		Hosts         json.RawMessage
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil || report.FormatVersion != "1.5" {
		t.Fatalf("not the JSON report: %v\n%s", err, out)
	}
	if err := json.Unmarshal(report.Hosts, &hosts); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(hosts) != 3 || hosts[0].Name != "director" || len(hosts[0].Services) != 1 {
		t.Fatalf("unexpected hosts: %+v", hosts)
	}
	s := hosts[0].Services[0]
	if s.Key.Protocol != "tcp" || s.Key.Address != "211.47.13.234" || s.Key.Port != 80 || s.Scheduler != "wlc" {
		t.Errorf("service: %+v", s)
	}
	if d := s.Destinations[1]; d.Address != "10.0.0.102:8080" || d.Weight != 2 || d.Forward != "nat" {
		t.Errorf("second destination: %+v", d)
	}
	if r := hosts[1].Routes; len(r) != 1 || r[0].Gateway != "10.0.0.234" || r[0].Destination != "0.0.0.0/0" {
		t.Errorf("rs1 routes: %+v", r)
	}
}

var problemLine = regexp.MustCompile(`^[^:]+\.cue:\d+:\d+: [^:]+: .+$`)

// A broken configuration exits 1, prints nothing on stdout, and prints one
// file:line:col: field: message line per problem on stderr, then a summary.
func TestValidateBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/direct-routing/cluster.cue")
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(src), `weight: 5, forward: "dr"`, `weight: 5, forward: "dr", lowerThreshold: 5`, 1)
	broken = strings.Replace(broken, `scheduler: "wrr"`, `scheduler: "wrrr"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "cluster.cue"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := lvsctl(t, "validate", dir)
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 1 problem and a summary, got:\n%s", errOut)
	}
	for _, l := range lines[:1] {
		if !problemLine.MatchString(l) {
			t.Errorf("not a file:line:col: field: message line: %q", l)
		}
	}
	if !strings.Contains(lines[0], `cluster.cue:35:14: directors.director.services.web.scheduler: "wrrr" is not allowed`) {
		t.Errorf("problem line: %s", lines[0])
	}
	if !strings.Contains(lines[1], "1 problem; nothing was changed on any host.") {
		t.Errorf("summary: %s", lines[1])
	}

	// With the scheduler fixed, the LVS rule about thresholds shows.
	fixed := strings.Replace(broken, `"wrrr"`, `"wrr"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "cluster.cue"), []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = lvsctl(t, "validate", dir)
	if code != 1 || !strings.Contains(errOut, "cluster.cue:39:62:") || !strings.Contains(errOut, "realServers.rs1.lowerThreshold: lowerThreshold 5 needs an upperThreshold") {
		t.Errorf("exit %d:\n%s", code, errOut)
	}
}

func TestValidateUsage(t *testing.T) {
	if code, _, errOut := lvsctl(t, "validate", "a", "b"); code != 1 || !strings.Contains(errOut, "accepts at most 1 arg") {
		t.Errorf("two directories: exit %d, %s", code, errOut)
	}
	if code, _, errOut := lvsctl(t, "validate", "-o", "yaml", "--show", "../../examples/nat"); code != 1 || !strings.Contains(errOut, "-o takes text or json") {
		t.Errorf("-o yaml: exit %d, %s", code, errOut)
	}
	if code, _, errOut := lvsctl(t, "validate", filepath.Join(t.TempDir(), "missing")); code != 1 || !strings.Contains(errOut, "no such directory") {
		t.Errorf("missing directory: exit %d, %s", code, errOut)
	}
}

func TestVersionAndCompletion(t *testing.T) {
	if code, out, _ := lvsctl(t, "version"); code != 0 || !strings.HasPrefix(out, "lvsctl ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if code, out, _ := lvsctl(t, "completion", shell); code != 0 || !strings.Contains(out, "lvsctl") {
			t.Errorf("completion %s: exit %d", shell, code)
		}
	}
}

// The schema lvsctl prints for a cluster directory makes `cue vet` check the
// same definition: the guide's example passes, a negative weight does not, and
// lvsctl still validates the directory with the schema file in it.
func TestSchemaWithCueVet(t *testing.T) {
	cueBin := filepath.Join(t.TempDir(), "cue")
	build := exec.Command("go", "build", "-o", cueBin, "cuelang.org/go/cmd/cue")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the cue tool (a tool dependency in go.mod): %v\n%s", err, out)
	}
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/direct-routing/cluster.cue")
	if err != nil {
		t.Fatal(err)
	}
	code, schemaSrc, _ := lvsctl(t, "schema", "--package", "cluster")
	if code != 0 || !strings.Contains(schemaSrc, "\npackage cluster\n") || !strings.HasSuffix(schemaSrc, "#Cluster\n") {
		t.Fatalf("schema --package: exit %d\n%s", code, schemaSrc)
	}
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("lvsctl_schema.cue", schemaSrc)
	write("cluster.cue", string(src))
	vet := func() (string, error) {
		cmd := exec.Command(cueBin, "vet", "-c", ".")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := vet(); err != nil {
		t.Fatalf("cue vet on the guide's example: %v\n%s", err, out)
	}
	if code, out, errOut := lvsctl(t, "validate", dir); code != 0 {
		t.Fatalf("lvsctl validate with the schema file present: exit %d\n%s%s", code, out, errOut)
	}
	write("cluster.cue", strings.Replace(string(src), "weight: 5,", "weight: -5,", 1))
	out, err := vet()
	if err == nil || !strings.Contains(out, "realServers.rs1.weight") {
		t.Fatalf("cue vet accepted weight -5: %v\n%s", err, out)
	}
	if code, _, errOut := lvsctl(t, "validate", dir); code != 1 || !strings.Contains(errOut, "realServers.rs1.weight") {
		t.Fatalf("lvsctl validate accepted weight -5: exit %d\n%s", code, errOut)
	}
	if code, _, errOut := lvsctl(t, "schema", "--package", "no-dash"); code != 1 || !strings.Contains(errOut, "not a CUE package name") {
		t.Errorf("schema --package no-dash: exit %d, %s", code, errOut)
	}
}

// The README's CUE snippet is the direct-routing example, condensed: it must
// validate and imply exactly what the example does.
func TestReadmeSnippet(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```cue\n")
	snippet, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatal("README has no ```cue block")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.cue"), []byte(snippet), 0o644); err != nil {
		t.Fatal(err)
	}
	code, got, errOut := lvsctl(t, "validate", "--show", dir)
	if code != 0 {
		t.Fatalf("README snippet: exit %d\n%s", code, errOut)
	}
	_, want, _ := lvsctl(t, "validate", "--show", "../../examples/direct-routing")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("README snippet vs examples/direct-routing (-example +snippet):\n%s", diff)
	}
}
