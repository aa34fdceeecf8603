package schema

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary text to the loader as the second file of a valid
// package: it must never panic, and must either load or return Problems whose
// lines are single lines.
func FuzzLoad(f *testing.F) {
	for _, tc := range badCases {
		for name, body := range tc.files {
			if name != "c.cue" {
				f.Add(body)
			}
		}
	}
	examples, _ := filepath.Glob("../examples/*/*.cue")
	for _, e := range examples {
		if b, err := os.ReadFile(e); err == nil {
			f.Add(strings.Replace(string(b), "package cluster", "package c", 1))
		}
	}
	f.Fuzz(func(t *testing.T, extra string) {
		dir := t.TempDir()
		for name, body := range map[string]string{"c.cue": base, "x.cue": extra} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := Load(dir)
		if err == nil {
			return
		}
		var probs Problems
		if !errors.As(err, &probs) || len(probs) == 0 {
			t.Fatalf("error is not Problems: %T %v", err, err)
		}
		for _, p := range probs {
			if p.Msg == "" || strings.Contains(p.String(), "\n") {
				t.Errorf("bad problem line %q", p.String())
			}
		}
	})
}
