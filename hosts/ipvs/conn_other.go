//go:build !linux

package ipvs

// Dial reports that IPVS exists only on Linux.
func Dial() (*Conn, error) { return nil, ErrNotSupported }

func isNotExist(error) bool { return false }

func unwrapOp(err error) error { return err }
