package main

import (
	"fmt"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/lvsctl/lvsctl/schema"
)

var cueIdent = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func newSchema() *cobra.Command {
	var pkg string
	cmd := &cobra.Command{
		Use:   "schema",
		Short: "Print the CUE schema lvsctl checks definitions against",
		Long: `schema prints the CUE schema embedded in lvsctl.

With --package NAME it is written for a cluster directory whose files say
"package NAME", and applies #Cluster to that whole package, so that
"cue vet" and editors check the same definition lvsctl does:

    lvsctl schema --package cluster > mycluster/lvsctl_schema.cue
    cue vet ./mycluster

cue vet then checks structure, types and ranges; lvsctl validate adds the LVS
rules that relate fields to each other.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if pkg != "" && !cueIdent.MatchString(pkg) {
				return fmt.Errorf("--package %q is not a CUE package name", pkg)
			}
			_, err := cmd.OutOrStdout().Write(schema.Source(pkg, pkg != ""))
			return err
		},
	}
	cmd.Flags().StringVar(&pkg, "package", "", "write the schema for a cluster package of this name")
	return cmd
}
