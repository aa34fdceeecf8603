// Package schema reads a cluster definition: a directory holding one CUE
// package, checked against lvsctl's CUE schema (lvsctl.cue, embedded) and the
// rules LVS imposes, then turned into what each host must have.
//
// Load goes through these steps, and stops at the first that finds problems:
//
//   - read: plain data (fields, structs, lists, literals) is read straight from
//     the syntax tree, which keeps the exact place of every field; any other
//     package (imports, references, comprehensions, definitions) goes through
//     the CUE evaluator;
//   - schema: a validator compiled from #Cluster checks structure, kinds,
//     enumerations and ranges, and fills in the schema's defaults;
//   - rules: check applies what relates fields to each other (families agree,
//     thresholds are ordered, tunnel settings go with tun, ...) and the strict
//     patterns for names that reach the kernel;
//   - derive: every object each host must have, with the reasons it exists
//     (a DR real server's ARP sysctls, "needed by service web on lb1").
//
// Errors: a bad configuration gives Problems, one line per problem, each with
// file:line:col and the field's path; nothing else is returned on failure.
package schema
