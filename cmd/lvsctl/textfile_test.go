package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseTextfile reads a textfile as node_exporter's collector does.
func parseTextfile(t *testing.T, path string) map[string]*dto.MetricFamily {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(f)
	if err != nil {
		b, _ := os.ReadFile(path)
		t.Fatalf("%s is not in the text format: %v\n%s", path, err, b)
	}
	for name, mf := range mfs {
		if !strings.HasPrefix(name, "lvsctl_") || mf.GetHelp() == "" || mf.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s: help %q, type %v", name, mf.GetHelp(), mf.GetType())
		}
	}
	return mfs
}

// gauge is the value of the metric with these labels (name=value pairs),
// and whether there is one.
func gauge(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		return m.GetGauge().GetValue(), true
	}
	return 0, false
}

func TestDriftTextfile(t *testing.T) {
	old := syscall.Umask(0o077) // the file is 0644 whatever the umask
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "lvsctl.prom")
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 678e6, time.UTC)
	odd := "rs\"1\\\nx" // escaped as the format demands, whatever names lvsctl allows
	err := writeDriftTextfile(path, driftMetrics{Cluster: "dr", Run: t1, Success: true,
		Hosts: []driftHost{{Host: "director", Checked: true, Objects: 2}, {Host: odd, Checked: true}}})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode: %v %v", fi.Mode(), err)
	}
	mfs := parseTextfile(t, path)
	check := func(name string, want float64, labels ...string) {
		t.Helper()
		got, ok := gauge(mfs, name, labels...)
		if !ok || got != want {
			b, _ := os.ReadFile(path)
			t.Errorf("%s%v = %v (present %v), want %v\n%s", name, labels, got, ok, want, b)
		}
	}
	check(metricObjects, 2, "cluster", "dr", "host", "director")
	check(metricObjects, 0, "host", odd)
	check(metricChecked, 1, "host", odd)
	check(metricLastRun, 1767323045.678, "cluster", "dr")
	check(metricLastSuccess, 1767323045.678, "cluster", "dr")

	// A failed run: the director could not be checked; the last success
	// is the one before.
	t2 := t1.Add(time.Hour)
	if err := writeDriftTextfile(path, driftMetrics{Cluster: "dr", Run: t2, Hosts: []driftHost{{Host: "director"}}}); err != nil {
		t.Fatal(err)
	}
	mfs = parseTextfile(t, path)
	check(metricChecked, 0, "host", "director")
	if _, ok := gauge(mfs, metricObjects, "host", "director"); ok {
		t.Error("a host not checked has an object count")
	}
	check(metricLastRun, float64(t2.UnixMilli())/1000)
	check(metricLastSuccess, 1767323045.678)
	// And another that could not even load the definition.
	if err := writeDriftTextfile(path, driftMetrics{Cluster: "dr", Run: t2.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	mfs = parseTextfile(t, path)
	check(metricLastSuccess, 1767323045.678)
	if len(mfs[metricChecked].GetMetric()) != 0 {
		t.Errorf("hosts without a definition: %v", mfs[metricChecked])
	}
	// Nothing is left behind but the file.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("files left: %v", ents)
	}

	// Never a success: 0.
	fresh := filepath.Join(dir, "fresh.prom")
	if err := writeDriftTextfile(fresh, driftMetrics{Cluster: "dr", Run: t2}); err != nil {
		t.Fatal(err)
	}
	mfs = parseTextfile(t, fresh)
	check(metricLastSuccess, 0)

	// A folder that cannot be written: an error naming the file, nothing left.
	if err := writeDriftTextfile(filepath.Join(dir, "no", "such.prom"), driftMetrics{Run: t2}); err == nil || !strings.Contains(err.Error(), "such.prom") {
		t.Errorf("missing folder: %v", err)
	}
}

func TestEscapeLabel(t *testing.T) {
	if got, want := escapeLabel("a\\b\"c\nd"), `a\\b\"c\nd`; got != want {
		t.Errorf("escapeLabel = %s, want %s", got, want)
	}
}

// The systemd service and the cron line in examples/monitoring run a drift
// command line lvsctl accepts, and the alert rules use only the metrics
// drift --textfile writes.
func TestMonitoringExamples(t *testing.T) {
	lines := map[string]string{}
	for _, name := range []string{"lvsctl-drift.service", "lvsctl-drift.cron"} {
		b, err := os.ReadFile(filepath.Join("../../examples/monitoring", name))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if _, cmd, ok := strings.Cut(l, "/usr/local/bin/lvsctl "); ok && !strings.HasPrefix(l, "#") {
				cmd, _, _ = strings.Cut(cmd, ">")
				lines[name] = cmd
			}
		}
	}
	if len(lines) != 2 {
		t.Fatalf("lvsctl command lines found: %v", lines)
	}
	for name, l := range lines {
		args := strings.Fields(l)
		if len(args) < 4 || args[0] != "drift" || !slices.Contains(args, "--textfile") {
			t.Errorf("%s: %q", name, l)
			continue
		}
		// The same flags, on a definition that is not there: drift gets as
		// far as loading it, and still writes the textfile.
		prom := filepath.Join(t.TempDir(), "lvsctl.prom")
		for i, a := range args {
			switch {
			case a == "/etc/lvsctl/cluster":
				args[i] = filepath.Join(t.TempDir(), "cluster")
			case i > 0 && args[i-1] == "--textfile":
				args[i] = prom
			}
		}
		code, _, errOut := lvsctl(t, args...)
		if code != 1 || !strings.Contains(errOut, "no such directory") {
			t.Errorf("%s: lvsctl %s: exit %d, %s", name, strings.Join(args, " "), code, errOut)
		}
		parseTextfile(t, prom)
	}

	rules, err := os.ReadFile("../../examples/monitoring/lvsctl-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	known := []string{metricObjects, metricChecked, metricLastRun, metricLastSuccess}
	for _, doc := range []string{string(rules), string(readme)} {
		for _, m := range regexp.MustCompile(`lvsctl_drift_[a-z_]+`).FindAllString(doc, -1) {
			if !slices.Contains(known, m) {
				t.Errorf("a metric drift does not write: %s", m)
			}
		}
	}
	for _, m := range []string{metricObjects, metricChecked, metricLastSuccess} {
		if !strings.Contains(string(rules), m) || !strings.Contains(string(readme), m) {
			t.Errorf("no alert on %s in the rules and the README", m)
		}
	}
}
