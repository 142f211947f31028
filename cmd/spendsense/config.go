package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/spendsense/operator-api/internal/logging"
	"github.com/spendsense/operator-api/internal/store"
)

// skipConfig marks commands that touch no database and log nothing
// (version, openapi, help): a broken DATABASE_URL must not stop them.
const skipConfig = "spendsense/skip-config"

// config is the process configuration every command shares, checked once
// before any command runs: a mistake here is an error naming what is
// accepted, never a silent default.
type config struct {
	databaseURL string
	target      store.Target
	logLevel    slog.Level
}

func loadConfig(cmd *cobra.Command) (config, error) {
	var c config
	c.databaseURL, _ = cmd.Flags().GetString("database-url")
	var err error
	if c.target, err = store.ParseURL(c.databaseURL); err != nil {
		return c, err
	}
	if c.logLevel, err = logging.ParseLevel(os.Getenv("SPENDSENSE_LOG_LEVEL")); err != nil {
		return c, fmt.Errorf("SPENDSENSE_LOG_LEVEL: %w", err)
	}
	return c, nil
}

// checkConfig is the root command's PersistentPreRunE. The root itself
// (help, --version) touches nothing.
func checkConfig(cmd *cobra.Command, _ []string) error {
	if !cmd.HasParent() {
		return nil
	}
	for c := cmd; c != nil; c = c.Parent() {
		if c.Annotations[skipConfig] != "" || c.Name() == "help" || c.Name() == "completion" {
			return nil
		}
	}
	_, err := loadConfig(cmd)
	return err
}

func databaseURL(cmd *cobra.Command) string {
	u, _ := cmd.Flags().GetString("database-url")
	return u
}

// openMigrated opens the database and applies pending migrations: for the
// commands whose job includes bringing the schema up to date (migrate,
// serve, seed).
func openMigrated(cmd *cobra.Command) (*store.Store, error) {
	s, err := store.Open(cmd.Context(), databaseURL(cmd), store.Options{})
	if err != nil {
		return nil, err
	}
	if _, err := s.Migrate(cmd.Context()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openCurrent opens an existing database whose schema is up to date,
// without migrating it: a newer binary run for a quick task (check, token,
// operators) against production must never change its schema behind the
// operator's back. readOnly opens it so that it cannot write at all.
func openCurrent(cmd *cobra.Command, readOnly bool) (*store.Store, error) {
	s, err := store.Open(cmd.Context(), databaseURL(cmd), store.Options{ReadOnly: readOnly, MustExist: true})
	if err != nil {
		return nil, err
	}
	pending, err := s.PendingMigrations(cmd.Context())
	if err != nil {
		s.Close()
		return nil, err
	}
	if len(pending) > 0 {
		s.Close()
		return nil, fmt.Errorf("the %s database is not migrated: %d migration(s) pending (%s); run `spendsense migrate` first",
			s.Engine, len(pending), abbreviate(pending, 3))
	}
	return s, nil
}

// abbreviate joins the first n items and says how many more there are.
func abbreviate(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
