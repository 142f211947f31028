package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// runCLI runs the spendsense binary in dir with env added to the process's
// environment and returns its output and exit status.
func runCLI(t *testing.T, dir, stdin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("spendsense %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// A configuration mistake stops every command with a message naming what
// is accepted, and creates nothing: no SQLite file named after a typo, no
// folder.
func TestConfigMistakesAreRefused(t *testing.T) {
	dir := t.TempDir()
	for _, url := range []string{
		"postgress://postgres@localhost/db", "Postgres://postgres@localhost/db",
		"mysql://root@localhost/db", "http://localhost/db", filepath.Join(dir, "no", "such", "dir", "x.db"),
	} {
		for _, args := range [][]string{{"check"}, {"migrate"}, {"serve", "--addr", "127.0.0.1:0"}, {"operators", "list"}} {
			_, stderr, code := runCLI(t, dir, "", []string{"DATABASE_URL=" + url}, args...)
			if code == 0 || !strings.Contains(stderr, "accepted:") || !strings.Contains(stderr, "postgres://") {
				t.Errorf("DATABASE_URL=%s spendsense %v: exit %d, stderr %q; want non-zero and the accepted forms", url, args, code, stderr)
			}
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused commands left files behind: %v", entries)
	}
	_, stderr, code := runCLI(t, dir, "", []string{"SPENDSENSE_LOG_LEVEL=verbose"}, "serve", "--addr", "127.0.0.1:0")
	if code == 0 || !strings.Contains(stderr, "debug, info, warn, error") {
		t.Errorf("SPENDSENSE_LOG_LEVEL=verbose serve: exit %d, stderr %q", code, stderr)
	}
	// version needs no database, so a broken DATABASE_URL does not stop it.
	out, _, code := runCLI(t, dir, "", []string{"DATABASE_URL=mysql://x"}, "version")
	if code != 0 || !strings.HasPrefix(out, "spendsense ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: exit %d, %q", code, out)
	}
	if alt, _, _ := runCLI(t, dir, "", nil, "--version"); alt != out {
		t.Errorf("--version = %q, version = %q", alt, out)
	}
}

// check, token, operators and audit verify never migrate: against a database that is not
// migrated they fail, saying so, and leave it exactly as it was.
func TestReadCommandsDoNotMigrate(t *testing.T) {
	for _, e := range testdb.Engines() {
		t.Run(string(e), func(t *testing.T) {
			url := testdb.EmptyURL(t, e)
			env := []string{"DATABASE_URL=" + url, "SPENDSENSE_JWT_SECRET=" + secret}
			for _, args := range [][]string{{"check"}, {"token", "--operator", "x"}, {"operators", "list"}, {"operators", "disable", "--id", "x"}, {"audit", "verify"}} {
				_, stderr, code := runCLI(t, t.TempDir(), "", env, args...)
				if code == 0 {
					t.Errorf("%v on an unmigrated %s database succeeded", args, e)
				}
				if !strings.Contains(stderr, "spendsense migrate") {
					t.Errorf("%v: stderr %q does not say to run spendsense migrate", args, stderr)
				}
			}
			if e == store.SQLite {
				if _, err := os.Stat(url); !os.IsNotExist(err) {
					t.Fatalf("a read command created %s", url)
				}
			} else {
				s, err := store.Open(context.Background(), url, store.Options{ReadOnly: true})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var n int
				if err := s.Read.QueryRow(`SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()`).Scan(&n); err != nil || n != 0 {
					t.Fatalf("%d tables after the read commands (%v); want 0", n, err)
				}
			}
			// migrate, then check passes: the failure above was the schema.
			if out, stderr, code := runCLI(t, t.TempDir(), "", env, "migrate"); code != 0 {
				t.Fatalf("migrate: %s%s", out, stderr)
			}
			if out, stderr, code := runCLI(t, t.TempDir(), "", env, "check"); code != 0 || !strings.HasPrefix(out, "ok:") {
				t.Fatalf("check after migrate: exit %d %s%s", code, out, stderr)
			}
		})
	}
}

// operators add|disable|enable|role|passwd from the command line: the
// password rule on stdin, each change one audit row by "cli", and passwd
// ending the tokens issued before it.
func TestOperatorsCommands(t *testing.T) {
	for _, e := range testdb.Engines() {
		t.Run(string(e), func(t *testing.T) {
			url := testdb.URL(t, e)
			env := []string{"DATABASE_URL=" + url, "SPENDSENSE_JWT_SECRET=" + secret}
			dir := t.TempDir()
			run := func(stdin string, args ...string) string {
				t.Helper()
				out, stderr, code := runCLI(t, dir, stdin, env, args...)
				if code != 0 {
					t.Fatalf("spendsense %v: exit %d\n%s%s", args, code, out, stderr)
				}
				return out
			}
			run("", "migrate")
			add := []string{"operators", "add", "--id", "op_cli", "--name", "CLI Operator", "--email", "cli@bank.example"}
			for _, bad := range []string{"x\n", "   \n", "short pw\n", "op_cli\n", "CLI@bank.example\n", "\n"} {
				_, stderr, code := runCLI(t, dir, bad, env, add...)
				if code == 0 || !strings.Contains(stderr, "password") {
					t.Errorf("operators add with password %q: exit %d, %q", bad, code, stderr)
				}
			}
			run("a good long password\n", add...)
			tokOld := strings.TrimSpace(run("", "token", "--operator", "op_cli"))
			run("", "operators", "disable", "--id", "op_cli")
			run("", "operators", "disable", "--id", "op_cli") // already disabled: no row
			run("", "operators", "enable", "--id", "op_cli")
			run("", "operators", "role", "--id", "op_cli", "--role", "senior_operator")
			if _, stderr, code := runCLI(t, dir, "", env, "operators", "role", "--id", "op_cli", "--role", "root"); code == 0 || !strings.Contains(stderr, "senior_operator") {
				t.Errorf("operators role --role root: exit %d, %q", code, stderr)
			}
			tokBefore := strings.TrimSpace(run("", "token", "--operator", "op_cli"))
			run("another long password\n", "operators", "passwd", "--id", "op_cli")
			if _, stderr, code := runCLI(t, dir, "   \n", env, "operators", "passwd", "--id", "op_cli"); code == 0 || !strings.Contains(stderr, "whitespace") {
				t.Errorf("operators passwd with blanks: exit %d, %q", code, stderr)
			}
			tokAfter := strings.TrimSpace(run("", "token", "--operator", "op_cli"))
			list := run("", "operators", "list")
			if !strings.Contains(list, "op_cli") || !strings.Contains(list, "senior_operator") || !strings.Contains(list, "true") {
				t.Errorf("operators list:\n%s", list)
			}

			// The tokens against a real server: only the one issued after passwd works.
			srv := startServer(t, url)
			for tok, want := range map[string]int{tokOld: 401, tokBefore: 401, tokAfter: 200} {
				if got := call(srv.url, "GET", "/api/auth/me", tok, nil); got.status != want {
					t.Errorf("GET /api/auth/me = %d, want %d (%v)", got.status, want, got.body)
				}
			}
			srv.stop()

			s, err := store.Open(context.Background(), url, store.Options{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rows, err := s.Read.Query(`SELECT operator_id, action FROM operator_audit_log WHERE recommendation_id IS NULL ORDER BY audit_id`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var by, action string
				if err := rows.Scan(&by, &action); err != nil {
					t.Fatal(err)
				}
				got = append(got, by+" "+action)
			}
			want := "cli operator_add,cli operator_disable,cli operator_enable,cli operator_role,cli operator_passwd"
			if strings.Join(got, ",") != want {
				t.Errorf("audit = %q, want %q", got, want)
			}
			checkInvariants(t, url)
		})
	}
}
