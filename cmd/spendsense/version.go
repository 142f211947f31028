package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is set at release builds with
// -ldflags "-X main.version=v1.2.3"; otherwise it comes from the module
// (a `go install …@v1.2.3`) or says devel.
var version = ""

// buildVersion says which build this is: version, commit (with a mark when
// built from a modified tree) and the Go version, from what the Go
// toolchain stamped into the binary.
func buildVersion() string {
	v, commit, modified := version, "unknown", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
				if len(commit) > 12 {
					commit = commit[:12]
				}
			case "vcs.modified":
				if s.Value == "true" {
					modified = "+modified"
				}
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	return fmt.Sprintf("spendsense %s (commit %s%s, %s %s/%s)", v, commit, modified, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "version",
		Short:       "Print the version, commit and Go version",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{skipConfig: "yes"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), buildVersion())
			return err
		},
	}
}
