// Package scenario runs lvsctl plan, apply and drift end to end in the VM lab,
// on the LVS guide's examples, with real HTTP traffic through IPVS between
// network namespaces that stand for the director, the real servers and a
// client.
package scenario
