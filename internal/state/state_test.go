package state

import (
	"encoding/json"
	"net/netip"
	"testing"
)

func TestServiceKeyString(t *testing.T) {
	for _, tc := range []struct {
		key  ServiceKey
		want string
	}{
		{ServiceKey{Family: IPv4, Protocol: TCP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 80}, "TCP 192.168.0.10:80"},
		{ServiceKey{Family: IPv6, Protocol: UDP, Addr: netip.MustParseAddr("2001:db8::53"), Port: 53}, "UDP [2001:db8::53]:53"},
		{ServiceKey{Family: IPv4, FWMark: 7}, "FWM 7"},
		{ServiceKey{Family: IPv6, FWMark: 6}, "FWM 6 IPv6"},
		{ServiceKey{Family: IPv4, Protocol: SCTP, Addr: netip.MustParseAddr("192.0.2.1"), Port: 3868}, "SCTP 192.0.2.1:3868"},
	} {
		if got := tc.key.String(); got != tc.want {
			t.Errorf("%#v: got %q, want %q", tc.key, got, tc.want)
		}
	}
}

// Keys are map keys and JSON values; both must survive a round trip.
func TestServiceKeyJSON(t *testing.T) {
	keys := []ServiceKey{
		{Family: IPv4, Protocol: TCP, Addr: netip.MustParseAddr("192.168.0.10"), Port: 80},
		{Family: IPv6, FWMark: 6},
	}
	for _, k := range keys {
		b, err := json.Marshal(k)
		if err != nil {
			t.Fatal(err)
		}
		var back ServiceKey
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if back != k {
			t.Errorf("round trip of %s: got %#v, want %#v", b, back, k)
		}
		seen := map[ServiceKey]bool{k: true}
		if !seen[back] {
			t.Errorf("%s does not find itself as a map key", b)
		}
	}
	if err := json.Unmarshal([]byte(`{"protocol":"icmp"}`), new(ServiceKey)); err == nil {
		t.Error("protocol icmp accepted")
	}
}
