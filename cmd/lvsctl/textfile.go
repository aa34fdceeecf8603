package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// driftMetrics is what drift --textfile exports: one run of drift.
type driftMetrics struct {
	Cluster string      // the definition's directory name: the cluster label
	Hosts   []driftHost // every host drift set out to check; none when it could not load the definition
	Run     time.Time   // when this run checked
	Success bool        // every host was checked (whether or not anything drifted)
}

// The metrics drift --textfile writes.
const (
	metricObjects     = "lvsctl_drift_objects"
	metricChecked     = "lvsctl_drift_host_checked"
	metricLastRun     = "lvsctl_drift_last_run_timestamp_seconds"
	metricLastSuccess = "lvsctl_drift_last_success_timestamp_seconds"
)

// writeDriftTextfile writes m to path in Prometheus's text exposition format,
// atomically (a temporary file in the same folder, renamed over path), mode
// 0644. When this run was not a success, the last success is the one the file
// at path recorded (0 when none did).
func writeDriftTextfile(path string, m driftMetrics) error {
	last := 0.0
	if m.Success {
		last = seconds(m.Run)
	} else if v, ok := lastSuccessIn(path); ok {
		last = v
	}
	var b bytes.Buffer
	cluster := `cluster="` + escapeLabel(m.Cluster) + `"`
	family := func(name, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n", name, escapeHelp(help), name)
	}
	family(metricObjects, "Objects on the host whose live state differs from the cluster definition, as lvsctl drift found them; absent when the host could not be checked.")
	for _, h := range m.Hosts {
		if h.Checked {
			fmt.Fprintf(&b, "%s{%s,host=\"%s\"} %d\n", metricObjects, cluster, escapeLabel(h.Host), h.Objects)
		}
	}
	family(metricChecked, "1 when lvsctl drift's last run could read the host, 0 when it could not (unreachable, or its agent failed).")
	for _, h := range m.Hosts {
		fmt.Fprintf(&b, "%s{%s,host=\"%s\"} %d\n", metricChecked, cluster, escapeLabel(h.Host), boolInt(h.Checked))
	}
	family(metricLastRun, "When lvsctl drift last ran, in seconds since the epoch, whatever it found.")
	fmt.Fprintf(&b, "%s{%s} %s\n", metricLastRun, cluster, formatFloat(seconds(m.Run)))
	family(metricLastSuccess, "When lvsctl drift last checked every host, in seconds since the epoch (0: never).")
	fmt.Fprintf(&b, "%s{%s} %s\n", metricLastSuccess, cluster, formatFloat(last))
	return writeFileAtomic(path, b.Bytes(), 0o644)
}

// lastSuccessIn reads the last success's timestamp from a file that
// writeDriftTextfile wrote.
func lastSuccessIn(path string) (float64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, metricLastSuccess)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		fields := strings.Fields(rest[strings.LastIndexByte(rest, '}')+1:])
		if len(fields) == 0 {
			return 0, false
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return 0, false
		}
		return v, true
	}
	return 0, false
}

// writeFileAtomic replaces path with data: readers see the old file or the
// new one, never a part.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	// Not ending in .prom: the textfile collector skips it until renamed.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// escapeLabel escapes a label value as the text exposition format demands:
// backslash, double quote and line feed.
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}

func seconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
