// Package conformance proves lvsctl's agent against a real IPVS kernel in the
// VM lab: every attribute the schema offers is written through the agent and
// read back through the agent and, independently, through ipvsadm.
package conformance
