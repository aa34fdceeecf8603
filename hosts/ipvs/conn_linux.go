package ipvs

import (
	"errors"
	"os"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// Dial connects to the IPVS table of the calling thread's network namespace.
func Dial() (*Conn, error) {
	c, err := genetlink.Dial(nil)
	if err != nil {
		return nil, err
	}
	return newConn(c)
}

func isNotExist(err error) bool { return errors.Is(err, os.ErrNotExist) }

// unwrapOp returns the errno inside netlink's own *OpError, so ours is the
// only wrapper a caller sees.
func unwrapOp(err error) error {
	var oe *netlink.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Err
	}
	return err
}
