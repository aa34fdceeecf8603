package ipvs

import (
	"fmt"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"

	"github.com/lvsctl/lvsctl/internal/state"
)

// DefaultTimeout bounds every request: IPVS answers in microseconds, so a
// request still waiting after this is stuck, not slow.
const DefaultTimeout = 10 * time.Second

// Conn is a connection to the IPVS table of one network namespace: the one
// the calling thread was in when Dial ran.
type Conn struct {
	c       *genetlink.Conn
	family  uint16
	Timeout time.Duration // per request; DefaultTimeout when zero
	// Progress, when set, is called after every request the kernel
	// answered: the agent's heartbeat counts them, so a long dump that
	// advances is told apart from one that hangs.
	Progress func()
	writes   int

	noDeadline bool // for genltest's connections, which take no deadline
}

// newConn wraps a genetlink connection (real, or genltest's for tests).
func newConn(c *genetlink.Conn) (*Conn, error) {
	f, err := c.GetFamily(familyName)
	if err != nil {
		c.Close()
		if isNotExist(err) {
			return nil, ErrNotAvailable
		}
		return nil, fmt.Errorf("looking up the IPVS netlink family: %w", err)
	}
	return &Conn{c: c, family: f.ID}, nil
}

// Close releases the socket.
func (c *Conn) Close() error { return c.c.Close() }

// Writes counts the requests that changed the table since Dial: the number
// the plan promises (one for a weight change) can be checked against it.
func (c *Conn) Writes() int { return c.writes }

func (c *Conn) do(op, object string, cmd uint8, flags netlink.HeaderFlags, attrs func(*netlink.AttributeEncoder) error) ([]genetlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	if attrs != nil {
		if err := attrs(ae); err != nil {
			return nil, &OpError{Op: op, Object: object, Err: err}
		}
	}
	data, err := ae.Encode()
	if err != nil {
		return nil, &OpError{Op: op, Object: object, Err: err}
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	if !c.noDeadline {
		if err := c.c.SetDeadline(time.Now().Add(timeout)); err != nil {
			return nil, &OpError{Op: op, Object: object, Err: err}
		}
	}
	if flags&netlink.Dump == 0 {
		c.writes++
	}
	msgs, err := c.c.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: familyVersion},
		Data:   data,
	}, c.family, netlink.Request|flags)
	if err != nil {
		return nil, &OpError{Op: op, Object: object, Err: unwrapOp(err)}
	}
	if c.Progress != nil {
		c.Progress()
	}
	return msgs, nil
}

// Services reads every virtual service with its destinations.
func (c *Conn) Services() ([]*state.Service, error) {
	msgs, err := c.do("list", "services", cmdGetService, netlink.Dump, nil)
	if err != nil {
		return nil, err
	}
	out := make([]*state.Service, 0, len(msgs))
	for _, m := range msgs {
		s, err := decodeNested(m.Data, attrService, decodeService)
		if err != nil {
			return nil, &OpError{Op: "list", Object: "services", Err: fmt.Errorf("decoding: %w", err)}
		}
		if s.Dests, err = c.Destinations(s.Key); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Destinations reads the destinations of one service.
func (c *Conn) Destinations(k state.ServiceKey) ([]*state.Destination, error) {
	msgs, err := c.do("list destinations of", k.String(), cmdGetDest, netlink.Dump, func(ae *netlink.AttributeEncoder) error {
		ae.Nested(attrService, func(ae *netlink.AttributeEncoder) error { encodeServiceKey(ae, k); return nil })
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]*state.Destination, 0, len(msgs))
	for _, m := range msgs {
		d, err := decodeNested(m.Data, attrDest, func(b []byte) (*state.Destination, error) { return decodeDest(k.Family, b) })
		if err != nil {
			return nil, &OpError{Op: "list destinations of", Object: k.String(), Err: fmt.Errorf("decoding: %w", err)}
		}
		out = append(out, d)
	}
	return out, nil
}

// AddService creates a service (without destinations).
func (c *Conn) AddService(s *state.Service) error {
	_, err := c.do("add service", s.Key.String(), cmdNewService, netlink.Acknowledge, serviceAttrs(s))
	return err
}

// UpdateService changes a service's scheduler, flags and persistence in
// place; its destinations and connections are untouched.
func (c *Conn) UpdateService(s *state.Service) error {
	_, err := c.do("update service", s.Key.String(), cmdSetService, netlink.Acknowledge, serviceAttrs(s))
	return err
}

// DeleteService removes a service and its destinations.
func (c *Conn) DeleteService(k state.ServiceKey) error {
	_, err := c.do("delete service", k.String(), cmdDelService, netlink.Acknowledge, func(ae *netlink.AttributeEncoder) error {
		ae.Nested(attrService, func(ae *netlink.AttributeEncoder) error { encodeServiceKey(ae, k); return nil })
		return nil
	})
	return err
}

// AddDestination adds a destination to a service.
func (c *Conn) AddDestination(k state.ServiceKey, d *state.Destination) error {
	_, err := c.do("add destination", destObject(k, d), cmdNewDest, netlink.Acknowledge, destAttrs(k, d))
	return err
}

// UpdateDestination changes a destination in place (weight, forwarding,
// tunnel, thresholds): one request, and its connections live on.
func (c *Conn) UpdateDestination(k state.ServiceKey, d *state.Destination) error {
	_, err := c.do("update destination", destObject(k, d), cmdSetDest, netlink.Acknowledge, destAttrs(k, d))
	return err
}

// DeleteDestination removes a destination from a service.
func (c *Conn) DeleteDestination(k state.ServiceKey, d *state.Destination) error {
	_, err := c.do("delete destination", destObject(k, d), cmdDelDest, netlink.Acknowledge, func(ae *netlink.AttributeEncoder) error {
		ae.Nested(attrService, func(ae *netlink.AttributeEncoder) error { encodeServiceKey(ae, k); return nil })
		ae.Nested(attrDest, func(ae *netlink.AttributeEncoder) error {
			ae.Bytes(destAddr, addr16(d.Addr.Addr()))
			ae.Bytes(destPort, be16(d.Addr.Port()))
			ae.Uint16(destAddrFamily, af(state.FamilyOf(d.Addr.Addr())))
			return nil
		})
		return nil
	})
	return err
}

// Timeouts reads the global tcp, tcpfin and udp timeouts in seconds.
func (c *Conn) Timeouts() (state.Timeouts, error) {
	msgs, err := c.do("read", "timeouts", cmdGetConfig, 0, nil)
	if err != nil {
		return state.Timeouts{}, err
	}
	var t state.Timeouts
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return t, &OpError{Op: "read", Object: "timeouts", Err: err}
		}
		for ad.Next() {
			switch ad.Type() {
			case attrTimeoutTCP:
				t.TCP = ad.Uint32()
			case attrTimeoutTCPFin:
				t.TCPFin = ad.Uint32()
			case attrTimeoutUDP:
				t.UDP = ad.Uint32()
			}
		}
		if err := ad.Err(); err != nil {
			return t, &OpError{Op: "read", Object: "timeouts", Err: err}
		}
	}
	return t, nil
}

// SetTimeouts sets the global timeouts; a zero field is left as it is.
func (c *Conn) SetTimeouts(t state.Timeouts) error {
	_, err := c.do("set", "timeouts", cmdSetConfig, netlink.Acknowledge, func(ae *netlink.AttributeEncoder) error {
		for _, a := range []struct {
			typ uint16
			v   uint32
		}{{attrTimeoutTCP, t.TCP}, {attrTimeoutTCPFin, t.TCPFin}, {attrTimeoutUDP, t.UDP}} {
			if a.v != 0 {
				ae.Uint32(a.typ, a.v)
			}
		}
		return nil
	})
	return err
}

// Info returns the IPVS version ("1.2.1") and the connection table size.
func (c *Conn) Info() (version string, connTableSize uint32, err error) {
	msgs, err := c.do("read", "info", cmdGetInfo, 0, nil)
	if err != nil {
		return "", 0, err
	}
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return "", 0, err
		}
		for ad.Next() {
			switch ad.Type() {
			case infoVersion:
				v := ad.Uint32()
				version = fmt.Sprintf("%d.%d.%d", v>>16, v>>8&0xff, v&0xff)
			case infoConnTabSize:
				connTableSize = ad.Uint32()
			}
		}
	}
	return version, connTableSize, nil
}

// Flush deletes every service. Tests use it; lvsctl deletes what it owns
// one object at a time.
func (c *Conn) Flush() error {
	_, err := c.do("flush", "the IPVS table", cmdFlush, netlink.Acknowledge, nil)
	return err
}

func serviceAttrs(s *state.Service) func(*netlink.AttributeEncoder) error {
	return func(ae *netlink.AttributeEncoder) error {
		var err error
		ae.Nested(attrService, func(ae *netlink.AttributeEncoder) error {
			err = encodeService(ae, s)
			return err
		})
		return err
	}
}

func destAttrs(k state.ServiceKey, d *state.Destination) func(*netlink.AttributeEncoder) error {
	return func(ae *netlink.AttributeEncoder) error {
		ae.Nested(attrService, func(ae *netlink.AttributeEncoder) error { encodeServiceKey(ae, k); return nil })
		var err error
		ae.Nested(attrDest, func(ae *netlink.AttributeEncoder) error {
			err = encodeDest(ae, k, d)
			return err
		})
		return err
	}
}

func destObject(k state.ServiceKey, d *state.Destination) string {
	return k.String() + " -> " + d.Addr.String()
}

// decodeNested finds the nested attribute typ in a message and decodes it.
func decodeNested[T any](data []byte, typ uint16, fn func([]byte) (T, error)) (T, error) {
	var zero T
	ad, err := netlink.NewAttributeDecoder(data)
	if err != nil {
		return zero, err
	}
	for ad.Next() {
		if ad.Type() == typ {
			return fn(ad.Bytes())
		}
	}
	if err := ad.Err(); err != nil {
		return zero, err
	}
	return zero, fmt.Errorf("no attribute %d in message", typ)
}
