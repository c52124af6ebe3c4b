package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/urfave/cli/v3"
)

// versionCommand is "ingest version".
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:   "version",
		Usage:  "print the version of this binary and of the Go toolchain that built it",
		Action: printVersion,
	}
}

func printVersion(_ context.Context, cmd *cli.Command) error {
	// The main module's version is set by "go install module@version" and, from a checkout, by
	// the VCS stamp; a plain build without either says "(devel)".
	version, goVersion := "(devel)", runtime.Version()
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		goVersion = info.GoVersion
	}
	fmt.Fprintf(cmd.Root().Writer, "ingest %s (%s, %s/%s)\n", version, goVersion, runtime.GOOS, runtime.GOARCH)
	return nil
}
