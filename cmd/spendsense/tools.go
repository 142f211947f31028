package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/delivery"
	"github.com/spendsense/operator-api/internal/httpapi"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/seed"
	"github.com/spendsense/operator-api/internal/store"
)

type seedOptions struct {
	users, recs int
	seed        int64
}

// runSeed generates the data, then gives every queued delivery the seed
// wrote its delivery job, as an approval through the API would have.
func runSeed(ctx context.Context, s *store.Store, o seedOptions, progress io.Writer) (seed.Summary, error) {
	sum, err := seed.Generate(ctx, s, seed.Options{Users: o.users, Recommendations: o.recs, Seed: o.seed, Progress: progress})
	if err != nil {
		return sum, err
	}
	q, err := delivery.New(delivery.Config{Store: s, InsertOnly: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return sum, err
	}
	_, err = s.RequeueDeliveryGaps(ctx, q.Enqueuer())
	return sum, err
}

// summaryLine says what a seed wrote, in one line.
func summaryLine(s seed.Summary) string {
	return fmt.Sprintf("%d users, %d recommendations (%d pending, %d approved, %d rejected, %d flagged), %d traces, %d audit rows, %d flags, %d deliveries",
		s.Users, s.Recommendations, s.ByStatus["pending"], s.ByStatus["approved"], s.ByStatus["rejected"], s.ByStatus["flagged"],
		s.DecisionTraces, s.AuditLogs, s.Flags, s.Deliveries)
}

func seedCmd() *cobra.Command {
	var o seedOptions
	cmd := &cobra.Command{
		Use:   "seed",
		Short: "Fill an empty database with deterministic synthetic data",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openMigrated(cmd)
			if err != nil {
				return err
			}
			defer s.Close()
			var progress io.Writer
			if term.IsTerminal(int(os.Stderr.Fd())) {
				progress = os.Stderr
			}
			start := time.Now()
			sum, err := runSeed(cmd.Context(), s, o, progress)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "seeded %s in %s\n", summaryLine(sum), time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().IntVar(&o.users, "users", 1000, "number of users")
	cmd.Flags().IntVar(&o.recs, "recommendations", 10000, "number of recommendations")
	cmd.Flags().Int64Var(&o.seed, "seed", 1, "random seed: the same seed gives the same data")
	return cmd
}

// readPassword reads one line from stdin: passwords never travel as
// arguments, where ps and shell history would show them.
func readPassword(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on stdin")
	}
	return pw, nil
}

// createOperator makes a demo operator: provisioning, not administration,
// so it writes no audit row (see store.CreateOperator).
func createOperator(ctx context.Context, s *store.Store, id, name, role, email, password string) error {
	hash, err := auth.NewPasswordHash(password, id, email)
	if err != nil {
		return err
	}
	op := review.Operator{ID: id, Name: name, Role: review.Role(role)}
	if email != "" {
		op.Email = &email
	}
	return s.CreateOperator(ctx, op, hash)
}

func checkRole(role string) error {
	if !review.ValidRole(role) {
		return fmt.Errorf("role %q is not one of %s", role, strings.Join(review.Roles, ", "))
	}
	return nil
}

// operatorsCmd manages operator accounts from the command line. Each change
// is audited with "cli" as the operator who made it, and none migrates the
// database (run `spendsense migrate` first).
func operatorsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "operators", Short: "Manage operator accounts (each change audited, by \"cli\")"}
	cmd.AddCommand(operatorsAddCmd(), operatorsListCmd())
	cmd.AddCommand(operatorsUpdateCmds()...)
	cmd.AddCommand(operatorsPasswdCmd())
	return cmd
}

// operatorsAddCmd creates an operator.
func operatorsAddCmd() *cobra.Command {
	var id, name, role, email string
	add := &cobra.Command{
		Use:   "add",
		Short: "Create an operator (password read from stdin: at least 12 characters, not the id or e-mail)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkRole(role); err != nil {
				return err
			}
			s, err := openCurrent(cmd, false)
			if err != nil {
				return err
			}
			defer s.Close()
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			hash, err := auth.NewPasswordHash(pw, id, email)
			if err != nil {
				return err
			}
			op := review.Operator{ID: id, Name: name, Role: review.Role(role)}
			if email != "" {
				op.Email = &email
			}
			if _, err := s.AddOperator(cmd.Context(), store.CLIActor, op, hash); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created operator %s (%s)\n", id, role)
			return nil
		},
	}
	add.Flags().StringVar(&id, "id", "", "operator id")
	add.Flags().StringVar(&name, "name", "", "display name")
	add.Flags().StringVar(&role, "role", "operator", "operator, senior_operator, admin or ingest")
	add.Flags().StringVar(&email, "email", "", "email (optional; can be used to log in)")
	_ = add.MarkFlagRequired("id")
	_ = add.MarkFlagRequired("name")
	return add
}

// operatorsListCmd lists operators.
func operatorsListCmd() *cobra.Command {
	return &cobra.Command{
		Use: "list", Short: "List operators", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openCurrent(cmd, true)
			if err != nil {
				return err
			}
			defer s.Close()
			ops, err := s.ListOperators(cmd.Context())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "ID\tNAME\tEMAIL\tROLE\tENABLED\tLAST LOGIN")
			for _, op := range ops {
				email, login := "", "never"
				if op.Email != nil {
					email = *op.Email
				}
				if op.LastLoginAt != nil {
					login = op.LastLoginAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\t%s\n", op.ID, op.Name, email, op.Role, !op.Disabled, login)
			}
			return w.Flush()
		},
	}
}

// operatorsUpdateCmds are disable, enable and role: each one change of
// --id, saying what it did.
func operatorsUpdateCmds() []*cobra.Command {
	var targetID, newRole string
	update := func(use, short, done string, change func() (review.OperatorChange, error)) *cobra.Command {
		c := &cobra.Command{
			Use: use, Short: short, Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				ch, err := change()
				if err != nil {
					return err
				}
				s, err := openCurrent(cmd, false)
				if err != nil {
					return err
				}
				defer s.Close()
				op, err := s.UpdateOperator(cmd.Context(), store.CLIActor, targetID, ch)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s (role %s, enabled %v)\n", done, op.ID, op.Role, !op.Disabled)
				return nil
			},
		}
		c.Flags().StringVar(&targetID, "id", "", "operator id")
		_ = c.MarkFlagRequired("id")
		return c
	}
	disable := update("disable", "Disable an operator: no login, and its tokens stop working at its next request", "disabled",
		func() (review.OperatorChange, error) { off := false; return review.OperatorChange{Enabled: &off}, nil })
	enable := update("enable", "Enable a disabled operator again; it logs in anew (tokens from before the disabling stay refused)", "enabled",
		func() (review.OperatorChange, error) { on := true; return review.OperatorChange{Enabled: &on}, nil })
	roleCmd := update("role", "Change an operator's role; it applies from the operator's next request", "role set for",
		func() (review.OperatorChange, error) {
			if err := checkRole(newRole); err != nil {
				return review.OperatorChange{}, err
			}
			r := review.Role(newRole)
			return review.OperatorChange{Role: &r}, nil
		})
	roleCmd.Flags().StringVar(&newRole, "role", "", "operator, senior_operator, admin or ingest")
	_ = roleCmd.MarkFlagRequired("role")
	return []*cobra.Command{disable, enable, roleCmd}
}

// operatorsPasswdCmd sets an operator's password.
func operatorsPasswdCmd() *cobra.Command {
	var targetID string
	passwd := &cobra.Command{
		Use: "passwd", Short: "Set an operator's password (read from stdin); ends every token issued before", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openCurrent(cmd, false)
			if err != nil {
				return err
			}
			defer s.Close()
			op, err := s.GetOperator(cmd.Context(), targetID)
			if err != nil {
				return err
			}
			pw, err := readPassword(cmd)
			if err != nil {
				return err
			}
			email := ""
			if op.Email != nil {
				email = *op.Email
			}
			hash, err := auth.NewPasswordHash(pw, op.ID, email)
			if err != nil {
				return err
			}
			if err := s.SetOperatorPassword(cmd.Context(), store.CLIActor, targetID, hash); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "password set for %s; its earlier tokens no longer work\n", targetID)
			return nil
		},
	}
	passwd.Flags().StringVar(&targetID, "id", "", "operator id")
	_ = passwd.MarkFlagRequired("id")
	return passwd
}

func tokenCmd() *cobra.Command {
	var opID string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a bearer token for an operator (for scripts and tests)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret := os.Getenv("SPENDSENSE_JWT_SECRET")
			if secret == "" {
				return errors.New("SPENDSENSE_JWT_SECRET must be set: a token is only useful to a server with the same secret")
			}
			s, err := openCurrent(cmd, true)
			if err != nil {
				return err
			}
			defer s.Close()
			op, err := s.GetOperator(cmd.Context(), opID)
			if err != nil {
				return err
			}
			if op.Disabled {
				return fmt.Errorf("operator %s is disabled", opID)
			}
			issuer, err := auth.NewIssuer([]byte(secret), ttl)
			if err != nil {
				return err
			}
			tok, _, err := issuer.IssueFor(op.ID, op.Role, op.TokenEpoch, ttl)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cmd.Flags().StringVar(&opID, "operator", "", "operator id")
	cmd.Flags().DurationVar(&ttl, "ttl", time.Hour, "token lifetime, at most "+auth.MaxTTL.String())
	_ = cmd.MarkFlagRequired("operator")
	return cmd
}

func checkCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Verify the database's invariants; exit status 0 when they hold. Only reads: never migrates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openCurrent(cmd, true)
			if err != nil {
				return err
			}
			defer s.Close()
			vs, err := s.Check(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(vs) == 0 {
				fmt.Fprintf(out, "ok: all invariants hold (%s)\n", s.Engine)
				return nil
			}
			for _, v := range vs {
				fmt.Fprintf(out, "VIOLATED: %s: %d row(s), e.g. %s\n", v.Invariant, v.Count, strings.Join(v.Examples, ", "))
			}
			return fmt.Errorf("%d invariant(s) violated", len(vs))
		},
	}
}

func openapiCmd() *cobra.Command {
	return &cobra.Command{
		Use:         "openapi",
		Short:       "Print the OpenAPI 3.1 document",
		Args:        cobra.NoArgs,
		Annotations: map[string]string{skipConfig: "yes"},
		RunE: func(cmd *cobra.Command, _ []string) error {
			api := httpapi.New(httpapi.Config{})
			b, err := json.MarshalIndent(api.OpenAPI(), "", "  ")
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(b))
			return err
		},
	}
}
