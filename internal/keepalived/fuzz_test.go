package keepalived

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse feeds ParseFile any file: it must return a result or an
// error, never panic or hang. The seeds are the real configurations and
// pieces of each feature.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/real/*.conf")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range []string{
		"virtual_server 10.0.0.1 80 { protocol TCP\n real_server 10.0.0.2 80 { weight 1 } }\n",
		"virtual_server_group G { 10.0.0.1-3 80\n fwmark 1\n 2001:db8::1-a 80\n 10.0.2.0/30 }\nvirtual_server group G { lb_kind DR\n real_server 10.0.0.2 { } }\n",
		"$A=1\n$B=${A}${A}\n~SEQ(I, 1, 3) ~SEQx(J, 0xa, 0xc) x $I ${J} $B\n",
		"$M= \\\nvirtual_server 10.0.0.$N 80 { \\\n real_server 10.0.1.$N 80 { } \\\n}\n$N=4\n$M\n",
		"~LST({A, B}, {1, 2}, {3}) $A $B\n",
		"@x lb_algo rr\n@^x lb_algo sh\n",
		"virtual_server fwmark 1 { persistence_granularity 255.255.255.0\n lvs_method TUN type gue port 1 csum\n real_server 2001:db8::1 { } }\n",
		"include /nonexistent/*.conf\n",
		"$A=$A\n$A\n",
		"{ } } { \"unterminated\n",
		"global_defs { lvs_timeouts tcp 1 tcpfin 2 udp 3 }\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), "keepalived.conf")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		// A hang is a failure too: the watchdog crashes the worker, and
		// the fuzzer keeps the input.
		watchdog := time.AfterFunc(10*time.Second, func() { panic("ParseFile has run for 10s") })
		res, err := ParseFile(p)
		watchdog.Stop()
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		for _, s := range res.Services {
			if s == nil || s.Scheduler == "" {
				t.Fatalf("service without scheduler: %+v", s)
			}
		}
	})
}
