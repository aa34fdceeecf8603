package marks

import (
	"net/netip"
	"testing"

	"github.com/google/nftables"

	"github.com/lvsctl/lvsctl/internal/netnstest"
	"github.com/lvsctl/lvsctl/internal/state"
)

// Deleting lvsctl's last rule removes its table, so Delete undoes Add
// exactly; with another rule left, the table stays.
func TestDeleteLastRuleRemovesTable(t *testing.T) {
	netnstest.Enter(t)
	a := state.MarkRule{Family: state.IPv4, Addr: netip.MustParseAddr("192.0.2.10"), Protocol: state.TCP, Ports: []uint16{80, 443}, Mark: 7}
	b := state.MarkRule{Family: state.IPv4, Addr: netip.MustParseAddr("192.0.2.11"), Protocol: state.UDP, Ports: []uint16{53}, Mark: 9}
	tables := func() int {
		c, err := nftables.New()
		if err != nil {
			t.Fatal(err)
		}
		ts, err := c.ListTables()
		if err != nil {
			t.Fatal(err)
		}
		return len(ts)
	}
	if tables() != 0 {
		t.Fatal("a fresh namespace has nftables tables")
	}
	for _, r := range []state.MarkRule{a, b} {
		if err := Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := Delete(a); err != nil {
		t.Fatal(err)
	}
	if n := tables(); n != 1 {
		t.Fatalf("with a rule left, %d tables", n)
	}
	if err := Delete(b); err != nil {
		t.Fatal(err)
	}
	if n := tables(); n != 0 {
		t.Fatalf("after the last rule, %d tables remain", n)
	}
}
