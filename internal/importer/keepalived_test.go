package importer

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lvsctl/lvsctl/internal/keepalived"
	"github.com/lvsctl/lvsctl/internal/state"
)

// TestKeepalivedCorpus imports every real keepalived configuration in
// internal/keepalived/testdata/real (keepalived's own samples and public
// configurations, each naming its source): the definition is cue fmt clean,
// validates, and derives exactly the IPVS table keepalived would build.
func TestKeepalivedCorpus(t *testing.T) {
	files, err := filepath.Glob("../keepalived/testdata/real/*.conf")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("%d real configurations; the corpus has more", len(files))
	}
	services, withServices := 0, 0
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			res, err := keepalived.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			host := &Host{Name: "lvs1", SSH: &SSH{Address: "lvs1"}, Boot: "none"}
			def, _ := FromKeepalived(res, host, filepath.Base(file))
			loaded := renderAndLoad(t, def)
			want := map[state.ServiceKey]*state.Service{}
			for _, s := range res.Services {
				if want[s.Key] == nil {
					want[s.Key] = s
				}
			}
			got := map[state.ServiceKey]*state.Service{}
			if h := loaded.Hosts["lvs1"]; h != nil {
				for _, s := range h.Services {
					got[s.Key] = s
				}
			}
			opts := cmp.Options{addrs, cmpopts.IgnoreFields(state.Service{}, "Why"), cmpopts.IgnoreFields(state.Destination{}, "Why"),
				cmpopts.SortSlices(func(a, b *state.Destination) bool { return a.Addr.String() < b.Addr.String() })}
			if diff := cmp.Diff(want, got, opts); diff != "" {
				t.Errorf("the imported definition derives another table (-keepalived +lvsctl)\n%s", diff)
			}
			if len(want) > 0 {
				services += len(want)
				withServices++
			}
			out, err := Render(def, "cluster")
			if err != nil {
				t.Fatal(err)
			}
			conf, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			for _, kind := range []string{"HTTP_GET", "TCP_CHECK", "MISC_CHECK", "SSL_GET", "SMTP_CHECK", "sorry_server"} {
				// A checker of a server keepalived skips (and warns about)
				// goes with it.
				if usesKeyword(string(conf), kind) && !strings.Contains(string(out), kind) && (len(res.Warnings) == 0 || len(want) > 0) {
					t.Errorf("%s in the configuration but in no comment of the definition", kind)
				}
			}
		})
	}
	t.Logf("%d configurations imported and validated, %d of them with virtual servers (%d services)", len(files), withServices, services)
}

// usesKeyword reports whether kind is a keyword of conf outside comments.
func usesKeyword(conf, kind string) bool {
	for _, l := range strings.Split(conf, "\n") {
		if i := strings.IndexAny(l, "#!"); i >= 0 {
			l = l[:i]
		}
		if slices.Contains(strings.Fields(l), kind) {
			return true
		}
	}
	return false
}
