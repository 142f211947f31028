package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/spendsense/operator-api/internal/auditproof"
	"github.com/spendsense/operator-api/internal/store"
)

// signingKeyEnv holds the audit seals' Ed25519 signing key (base64 of the
// 32-byte seed), docs/RELIABILITY.md.
const signingKeyEnv = "SPENDSENSE_AUDIT_SIGNING_KEY"

func auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Prove the audit trail: verify its hash chains and signed seals, print the sealing public key",
	}
	cmd.AddCommand(auditVerifyCmd(), auditPubkeyCmd(), auditSealCmd(), auditExportCmd())
	return cmd
}

// signingKey reads SPENDSENSE_AUDIT_SIGNING_KEY; nil when it is not set.
func signingKey() (ed25519.PrivateKey, error) {
	v := os.Getenv(signingKeyEnv)
	if v == "" {
		return nil, nil
	}
	return auditproof.ParsePrivateKey(v)
}

// requireSigningKey is signingKey for commands that cannot work without it.
func requireSigningKey() (ed25519.PrivateKey, error) {
	key, err := signingKey()
	if err == nil && key == nil {
		err = errors.New(signingKeyEnv + " is not set")
	}
	return key, err
}

func auditPubkeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "pubkey",
		Short: "Print the public key of " + signingKeyEnv + " (give it to auditors for audit verify --pubkey)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := requireSigningKey()
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), auditproof.PublicKeyText(key))
			return err
		},
	}
}

func auditVerifyCmd() *cobra.Command {
	var pubText, export string
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check every audit row's hash, every chain and head, and every seal; exit 0 only when all hold",
		Long: `Checks each audit row's hash over its fields, each subject's chain up to the
head kept on the subject row, and each seal (the Merkle root of its rows, its
link to the seal before it, and its Ed25519 signature against --pubkey, or
against the key in ` + signingKeyEnv + ` when --pubkey is not given).

Without --export it reads the live database; with --export FILE it reads a
proof export (spendsense audit export, or GET /audit-logs/export?format=proof)
and needs no database: what an auditor runs, with the public key they keep.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pub, err := verifyKey(pubText)
			if err != nil {
				return err
			}
			v := auditproof.NewVerifier(pub)
			if export != "" {
				f, err := os.Open(export)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := auditproof.ReadExport(f, v); err != nil {
					return err
				}
				return printReport(cmd.OutOrStdout(), v.Finish(), export)
			}
			s, err := openCurrent(cmd, true) // verifying only reads
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := s.VerifyAudit(cmd.Context(), v)
			if err != nil {
				return err
			}
			return printReport(cmd.OutOrStdout(), rep, string(s.Engine))
		},
	}
	cmd.Flags().StringVar(&pubText, "pubkey", "", "base64 Ed25519 public key the seals must verify with (spendsense audit pubkey)")
	cmd.Flags().StringVar(&export, "export", "", "verify this proof export file instead of the database")
	return cmd
}

func auditExportCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the whole audit trail with its hashes, chain heads and seals (a proof export) for audit verify --export",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openCurrent(cmd, true) // exporting only reads
			if err != nil {
				return err
			}
			defer s.Close()
			w := cmd.OutOrStdout()
			if out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return err
				}
				defer f.Close()
				w = f
			}
			if err := s.WriteAuditProof(cmd.Context(), w); err != nil {
				return err
			}
			if f, ok := w.(*os.File); ok && out != "-" {
				return f.Sync()
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "-", "file to write (- for standard output)")
	return cmd
}

// verifyKey is the key seals are checked against: --pubkey, else the
// public half of the signing key, else none (then any seal is a problem).
func verifyKey(pubText string) (ed25519.PublicKey, error) {
	if pubText != "" {
		return auditproof.ParsePublicKey(pubText)
	}
	key, err := signingKey()
	if err != nil || key == nil {
		return nil, err
	}
	return key.Public().(ed25519.PublicKey), nil
}

func printReport(out io.Writer, rep auditproof.Report, source string) error {
	if rep.OK() {
		fmt.Fprintf(out, "ok: %d audit rows in %d chains, %d seals (%d rows not sealed yet) hold (%s)\n",
			rep.Rows, rep.Subjects, rep.Seals, rep.Unsealed, source)
		if rep.LastSeal != nil {
			fmt.Fprintf(out, "newest seal: %d %s (keep it outside the system: it is what a replaced history cannot match)\n",
				rep.LastSeal.SealID, rep.LastSeal.SealHash)
		}
		return nil
	}
	fmt.Fprintf(out, "BROKEN: %s\n", rep.Problems[0])
	for _, p := range rep.Problems[1:min(len(rep.Problems), 20)] {
		fmt.Fprintf(out, "also: %s\n", p)
	}
	return fmt.Errorf("audit trail does not verify: %d problem(s)", len(rep.Problems))
}

func auditSealCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "seal",
		Short: "Seal every audit row not sealed yet now (serve --workers does it periodically)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := requireSigningKey()
			if err != nil {
				return err
			}
			s, err := openCurrent(cmd, false) // sealing writes, but never migrates
			if err != nil {
				return err
			}
			defer s.Close()
			start := time.Now()
			n, err := s.SealAllAudit(cmd.Context(), key, store.DefaultSealRows)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "sealed: %d new seal(s) in %s\n", n, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
}
