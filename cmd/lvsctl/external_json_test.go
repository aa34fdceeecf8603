package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validate --show -o json carries a service's externallyManaged (format 1.2),
// and its schema takes only the two aspects.
func TestValidateShowExternallyManaged(t *testing.T) {
	src, err := os.ReadFile("../../examples/direct-routing/cluster.cue")
	if err != nil {
		t.Fatal(err)
	}
	withExt := strings.Replace(string(src), `scheduler: "wrr"`, `scheduler: "wrr"
		externallyManaged: ["weight", "presence"]`, 1)
	if withExt == string(src) {
		t.Fatal("the example changed: no scheduler line")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cluster.cue"), []byte(withExt), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := lvsctl(t, "validate", "--show", "-o", "json", dir)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, %s", code, errOut)
	}
	checkJSON(t, "validate-show", out)
	if !strings.Contains(out, `"format_version": "1.5"`) || !strings.Contains(out, `"externallyManaged": [
            "presence",
            "weight"
          ]`) {
		t.Errorf("validate --show -o json:\n%s", out)
	}
	bad := strings.Replace(out, `"presence",`, `"health",`, 1)
	if err := validateAgainst(t, "validate-show", bad); err == nil {
		t.Errorf("the schema accepts externallyManaged: health")
	}
}
