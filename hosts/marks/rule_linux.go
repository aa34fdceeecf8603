package marks

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/lvsctl/lvsctl/internal/state"
	"golang.org/x/sys/unix"
)

// The offsets of the destination address in the IPv4 and IPv6 headers, and of
// the destination port in the TCP, UDP and SCTP headers.
const (
	ip4Daddr = 16
	ip6Daddr = 24
	thDport  = 2
)

// exprs is r, normalized, as the expressions of one rule; ports is the
// anonymous set the rule looks the port up in, nil for a single port.
func exprs(r state.MarkRule, ports *nftables.Set) []expr.Any {
	nfproto, off := byte(unix.NFPROTO_IPV4), uint32(ip4Daddr)
	if r.Family == state.IPv6 {
		nfproto, off = unix.NFPROTO_IPV6, ip6Daddr
	}
	addr := r.Addr.AsSlice()
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{nfproto}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: uint32(len(addr))},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(r.Protocol)}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: thDport, Len: 2},
	}
	if ports == nil {
		e = append(e, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(r.Ports[0])})
	} else {
		e = append(e, &expr.Lookup{SourceRegister: 1, SetName: ports.Name, SetID: ports.ID})
	}
	return append(e,
		&expr.Immediate{Register: 1, Data: binaryutil.NativeEndian.PutUint32(r.Mark)},
		&expr.Meta{Key: expr.MetaKeyMARK, SourceRegister: true, Register: 1},
	)
}

// portSet is the anonymous set of r's ports, or nil for a single port.
func portSet(t *nftables.Table, r state.MarkRule) (*nftables.Set, []nftables.SetElement) {
	if len(r.Ports) == 1 {
		return nil, nil
	}
	s := &nftables.Set{Table: t, Anonymous: true, Constant: true, KeyType: nftables.TypeInetService}
	elems := make([]nftables.SetElement, len(r.Ports))
	for i, p := range r.Ports {
		elems[i] = nftables.SetElement{Key: binaryutil.BigEndian.PutUint16(p)}
	}
	return s, elems
}

// setLookup answers the port elements of a set named in a rule; ok is false
// when the set is not an anonymous constant set of ports.
type setLookup func(name string) (ports []uint16, ok bool)

// parse reads a rule of lvsctl's shape back from its expressions. It is the
// inverse of exprs: every expression, register and operator must be as exprs
// makes them.
func parse(e []expr.Any, lookup setLookup) (state.MarkRule, bool) {
	var r state.MarkRule
	if len(e) != 10 {
		return r, false
	}
	if !isMeta(e[0], expr.MetaKeyNFPROTO) || !isMeta(e[4], expr.MetaKeyL4PROTO) {
		return r, false
	}
	nfproto, ok := cmpEq(e[1], 1)
	if !ok {
		return r, false
	}
	var off, n uint32
	switch nfproto[0] {
	case unix.NFPROTO_IPV4:
		r.Family, off, n = state.IPv4, ip4Daddr, 4
	case unix.NFPROTO_IPV6:
		r.Family, off, n = state.IPv6, ip6Daddr, 16
	default:
		return r, false
	}
	if !isPayload(e[2], expr.PayloadBaseNetworkHeader, off, n) {
		return r, false
	}
	addr, ok := cmpEq(e[3], int(n))
	if !ok {
		return r, false
	}
	r.Addr, _ = netip.AddrFromSlice(addr)
	proto, ok := cmpEq(e[5], 1)
	if !ok {
		return r, false
	}
	r.Protocol = state.Protocol(proto[0])
	if r.Protocol != state.TCP && r.Protocol != state.UDP && r.Protocol != state.SCTP {
		return r, false
	}
	if !isPayload(e[6], expr.PayloadBaseTransportHeader, thDport, 2) {
		return r, false
	}
	switch x := e[7].(type) {
	case *expr.Cmp:
		port, ok := cmpEq(x, 2)
		if !ok {
			return r, false
		}
		r.Ports = []uint16{binaryutil.BigEndian.Uint16(port)}
	case *expr.Lookup:
		if x.SourceRegister != 1 || x.IsDestRegSet || x.Invert {
			return r, false
		}
		if r.Ports, ok = lookup(x.SetName); !ok || len(r.Ports) == 0 {
			return r, false
		}
	default:
		return r, false
	}
	imm, ok := e[8].(*expr.Immediate)
	if !ok || imm.Register != 1 || len(imm.Data) != 4 {
		return r, false
	}
	r.Mark = binaryutil.NativeEndian.Uint32(imm.Data)
	if set, ok := e[9].(*expr.Meta); !ok || set.Key != expr.MetaKeyMARK || !set.SourceRegister || set.Register != 1 {
		return r, false
	}
	r.Ports = slices.Compact(slices.Sorted(slices.Values(r.Ports)))
	if r.Mark == 0 || slices.Contains(r.Ports, 0) {
		return r, false
	}
	return r, true
}

func isMeta(e expr.Any, key expr.MetaKey) bool {
	m, ok := e.(*expr.Meta)
	return ok && m.Key == key && !m.SourceRegister && m.Register == 1
}

func cmpEq(e expr.Any, n int) ([]byte, bool) {
	c, ok := e.(*expr.Cmp)
	if !ok || c.Op != expr.CmpOpEq || c.Register != 1 || len(c.Data) != n {
		return nil, false
	}
	return c.Data, true
}

func isPayload(e expr.Any, base expr.PayloadBase, off, n uint32) bool {
	p, ok := e.(*expr.Payload)
	return ok && p.OperationType == expr.PayloadLoad && p.DestRegister == 1 &&
		p.Base == base && p.Offset == off && p.Len == n && p.CsumType == expr.CsumTypeNone
}

// describeExprs renders expressions for a person, close to nft's words where
// that is cheap ("meta nfproto == 02 payload network+16/4 == c0000263
// counter"), so a rule of another shape can be recognised in a report.
func describeExprs(es []expr.Any) string {
	var b bytes.Buffer
	for i, e := range es {
		if i > 0 {
			b.WriteByte(' ')
		}
		switch x := e.(type) {
		case *expr.Meta:
			if x.SourceRegister {
				fmt.Fprintf(&b, "meta %s set", metaName(x.Key))
			} else {
				fmt.Fprintf(&b, "meta %s", metaName(x.Key))
			}
		case *expr.Cmp:
			fmt.Fprintf(&b, "%s %x", cmpOp(x.Op), x.Data)
		case *expr.Payload:
			base := map[expr.PayloadBase]string{expr.PayloadBaseLLHeader: "link", expr.PayloadBaseNetworkHeader: "network", expr.PayloadBaseTransportHeader: "transport"}[x.Base]
			if x.OperationType == expr.PayloadWrite {
				fmt.Fprintf(&b, "payload %s+%d/%d set", base, x.Offset, x.Len)
			} else {
				fmt.Fprintf(&b, "payload %s+%d/%d", base, x.Offset, x.Len)
			}
		case *expr.Lookup:
			if x.Invert {
				b.WriteString("!")
			}
			fmt.Fprintf(&b, "lookup @%s", x.SetName)
		case *expr.Immediate:
			fmt.Fprintf(&b, "immediate %x", x.Data)
		case *expr.Counter:
			b.WriteString("counter")
		case *expr.Verdict:
			b.WriteString(verdictName(x))
		default:
			b.WriteString(strings.ToLower(strings.TrimPrefix(fmt.Sprintf("%T", e), "*expr.")))
		}
	}
	return b.String()
}

func metaName(k expr.MetaKey) string {
	switch k {
	case expr.MetaKeyNFPROTO:
		return "nfproto"
	case expr.MetaKeyL4PROTO:
		return "l4proto"
	case expr.MetaKeyMARK:
		return "mark"
	case expr.MetaKeyIIFNAME:
		return "iifname"
	case expr.MetaKeyOIFNAME:
		return "oifname"
	}
	return fmt.Sprintf("key-%d", k)
}

func cmpOp(op expr.CmpOp) string {
	switch op {
	case expr.CmpOpEq:
		return "=="
	case expr.CmpOpNeq:
		return "!="
	case expr.CmpOpLt:
		return "<"
	case expr.CmpOpLte:
		return "<="
	case expr.CmpOpGt:
		return ">"
	case expr.CmpOpGte:
		return ">="
	}
	return fmt.Sprintf("cmp-%d", op)
}

func verdictName(v *expr.Verdict) string {
	switch v.Kind {
	case expr.VerdictAccept:
		return "accept"
	case expr.VerdictDrop:
		return "drop"
	case expr.VerdictReturn:
		return "return"
	case expr.VerdictJump:
		return "jump " + v.Chain
	case expr.VerdictGoto:
		return "goto " + v.Chain
	case expr.VerdictContinue:
		return "continue"
	}
	return fmt.Sprintf("verdict %d", v.Kind)
}
