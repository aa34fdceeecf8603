package ipvs

import (
	"errors"
	"fmt"
	"syscall"
)

// ErrNotAvailable says the running kernel has no IPVS (no "IPVS" generic
// netlink family: CONFIG_IP_VS is off, or the module is not loaded and cannot
// be).
var ErrNotAvailable = errors.New("IPVS is not available in this kernel (no IPVS generic netlink family; load the ip_vs module, or use a kernel built with CONFIG_IP_VS)")

// ErrNotSupported is returned on systems other than Linux.
var ErrNotSupported = errors.New("IPVS is only available on Linux")

// An OpError is a failed IPVS operation on one object.
type OpError struct {
	Op     string // "add service", "update destination", ...
	Object string // "TCP 192.168.0.10:80", "TCP 192.168.0.10:80 -> 192.168.0.101:80"
	Err    error  // usually a syscall.Errno
}

func (e *OpError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Op, e.Object, explain(e.Op, e.Err))
}

func (e *OpError) Unwrap() error { return e.Err }

// explain says what an errno means for IPVS, beside the errno itself.
func explain(op string, err error) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err.Error()
	}
	var what string
	switch errno {
	case syscall.EEXIST:
		what = "it already exists"
		if op == "start" {
			what = "a sync daemon of this state already runs"
		}
	case syscall.ESRCH:
		what = "no such service"
		if op == "stop" {
			what = "no sync daemon of this state runs"
		}
	case syscall.ENODEV:
		what = "no such interface"
	case syscall.EADDRNOTAVAIL:
		what = "the interface has no address of the multicast group's family"
	case syscall.ENOENT:
		if op == "add service" || op == "update service" {
			what = "the scheduler or persistence engine is not available in this kernel (its ip_vs_* module is missing)"
		} else {
			what = "no such object"
		}
	case syscall.EPERM:
		what = "permission denied: changing IPVS needs root (CAP_NET_ADMIN)"
	case syscall.ERANGE:
		what = "a value is out of the kernel's range (weight below 0, or lower threshold above upper)"
	case syscall.EINVAL:
		what = "the kernel refused the request as invalid"
	case syscall.EBUSY:
		what = "busy"
	case syscall.EAGAIN, syscall.ETIMEDOUT:
		what = "the kernel did not answer in time"
	default:
		return fmt.Sprintf("%v (%s)", errno, errnoName(errno))
	}
	return fmt.Sprintf("%s (%s: %v)", what, errnoName(errno), errno)
}

func errnoName(e syscall.Errno) string {
	names := map[syscall.Errno]string{
		syscall.EEXIST: "EEXIST", syscall.ESRCH: "ESRCH", syscall.ENOENT: "ENOENT",
		syscall.EPERM: "EPERM", syscall.ERANGE: "ERANGE", syscall.EINVAL: "EINVAL",
		syscall.EBUSY: "EBUSY", syscall.EAGAIN: "EAGAIN", syscall.ETIMEDOUT: "ETIMEDOUT",
		syscall.EOPNOTSUPP: "EOPNOTSUPP", syscall.ENODEV: "ENODEV", syscall.EADDRNOTAVAIL: "EADDRNOTAVAIL", syscall.ENOMEM: "ENOMEM", syscall.EFAULT: "EFAULT",
	}
	if n, ok := names[e]; ok {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}
