package keepalived

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestZZSlow(t *testing.T) {
	fs, _ := filepath.Glob("/root/.cache/go-build/fuzz/github.com/lvsctl/lvsctl/internal/keepalived/FuzzParse/*")
	for _, f := range fs {
		b, _ := os.ReadFile(f)
		lines := strings.SplitN(string(b), "\n", 2)
		s := strings.TrimSpace(lines[1])
		s = strings.TrimSuffix(strings.TrimPrefix(s, "[]byte("), ")")
		data, err := strconv.Unquote(s)
		if err != nil {
			t.Log(err)
			continue
		}
		p := filepath.Join(t.TempDir(), "k.conf")
		os.WriteFile(p, []byte(data), 0o644)
		st := time.Now()
		_, err = ParseFile(p)
		if d := time.Since(st); d > 100*time.Millisecond {
			t.Logf("%s %v %v %q", f, d, err, data[:min(len(data), 200)])
		}
	}
}
