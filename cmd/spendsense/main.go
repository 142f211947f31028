// Command spendsense runs the SpendSense Operator API and its tools.
//
// Every command reads its configuration from the environment (DATABASE_URL,
// SPENDSENSE_ADDR, SPENDSENSE_JWT_SECRET, SPENDSENSE_CORS_ORIGINS,
// SPENDSENSE_LOG_LEVEL, SPENDSENSE_DELIVERY_WEBHOOK_URL,
// SPENDSENSE_DELIVERY_SECRET); flags override it.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	_ "time/tzdata" // IANA zones for ?tz= even on machines without /usr/share/zoneinfo

	"github.com/spendsense/operator-api/internal/store"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := &cobra.Command{
		Use:           "spendsense",
		Short:         "SpendSense Operator API: human review of AI-generated financial-education recommendations",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Checked before any command acts, so a mistyped DATABASE_URL or
		// log level stops every command the same way.
		PersistentPreRunE: checkConfig,
	}
	// --version by hand rather than cobra's Version field: printing that
	// goes through text/template, whose reflection keeps every exported
	// method of every linked type in the binary (4 MB here).
	var showVersion bool
	root.Flags().BoolVar(&showVersion, "version", false, "print the version, commit and Go version")
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if showVersion {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), buildVersion())
			return err
		}
		return cmd.Help()
	}
	root.PersistentFlags().String("database-url", os.Getenv("DATABASE_URL"),
		"database: empty for ./spendsense.db (SQLite), a SQLite file path in an existing folder, or postgres://… (env DATABASE_URL)")
	root.AddCommand(serveCmd(), migrateCmd(), seedCmd(), operatorsCmd(), tokenCmd(), checkCmd(), openapiCmd(), auditCmd(), versionCmd())
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "spendsense:", err)
		os.Exit(1)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations (a no-op when up to date)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := store.Open(cmd.Context(), databaseURL(cmd), store.Options{})
			if err != nil {
				return err
			}
			defer s.Close()
			n, err := s.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: %d migration(s) applied\n", s.Engine, n)
			return nil
		},
	}
}
