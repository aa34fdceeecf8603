// Package hosts opens lvsctl's agent on every host of a configuration and
// gathers their live state in parallel. Each host is reached the way its
// configuration says: this machine, this machine inside a network namespace,
// or (issue 6) SSH.
package hosts
