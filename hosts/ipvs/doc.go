// Package ipvs reads and changes the kernel's IPVS table through generic
// netlink: virtual services, their destinations, and the global timeouts.
//
// It is lvsctl's own small client on mdlayher/genetlink rather than
// moby/ipvs or cloudflare/ipvs. moby/ipvs never parses the persistence engine
// when reading, reads weights as 16 bits while the kernel keeps 32, has no
// tunnel type, port or checksum attributes, and retries EAGAIN forever; each
// of those would make lvsctl report false drift or hang. cloudflare/ipvs lacks
// the tunnel attributes too. What lvsctl needs is one genetlink family and a
// dozen attributes, and owning them means every attribute the schema offers
// round-trips (proven against the real kernel and ipvsadm in the VM lab), every
// call has a deadline, and the socket lives in the caller's network namespace.
//
// Error contract: Dial returns an error satisfying errors.Is(err,
// ErrNotAvailable) when the kernel has no IPVS. Every other error is an
// *OpError naming the operation and the object, wrapping the kernel's errno,
// so callers can test errors.Is(err, unix.EEXIST) or errors.Is(err,
// unix.ENOENT); its message says what the errno means for IPVS.
package ipvs
