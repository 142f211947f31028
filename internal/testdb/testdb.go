// Package testdb gives tests real, migrated, isolated databases on every
// engine the store supports, so one suite runs unchanged against each.
//
// SQLite databases are files in t.TempDir(). PostgreSQL databases live on
// the server named by SPENDSENSE_TEST_POSTGRES_URL or, when that is unset,
// on a throwaway PostgreSQL 15 that this package starts once per test
// process from /usr/lib/postgresql/15/bin. A package whose tests use
// PostgreSQL must stop that server at the end of the process:
//
//	func TestMain(m *testing.M) { testdb.Main(m) }
//
// Every PostgreSQL database is a copy of one template database migrated
// once per process, so a fresh database costs a CREATE DATABASE, not a
// migration. Without server binaries or a URL the PostgreSQL half is skipped
// (loudly), unless SPENDSENSE_REQUIRE_POSTGRES=1 makes that a failure.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spendsense/operator-api/internal/store"
)

const (
	// pgBin holds the server binaries (Debian's postgresql-15 package).
	pgBin = "/usr/lib/postgresql/15/bin"
	// envURL names an existing server to use instead of starting one.
	envURL = "SPENDSENSE_TEST_POSTGRES_URL"
	// envRequire=1 turns a missing PostgreSQL into a failure.
	envRequire = "SPENDSENSE_REQUIRE_POSTGRES"
)

var skipOnce sync.Once

// Engines lists the engines Each runs on: SQLite, and PostgreSQL when a
// server is configured or can be started (or is required).
func Engines() []store.Engine {
	if pgAvailable() || os.Getenv(envRequire) == "1" {
		return []store.Engine{store.SQLite, store.Postgres}
	}
	skipOnce.Do(func() {
		fmt.Fprintf(os.Stderr, "\n*** testdb: PostgreSQL half SKIPPED: no %s/initdb and %s unset; "+
			"set %s=1 to make this a failure ***\n\n", pgBin, envURL, envRequire)
	})
	return []store.Engine{store.SQLite}
}

// pgAvailable reports whether PostgreSQL can be used, without starting it.
func pgAvailable() bool {
	if os.Getenv(envURL) != "" {
		return true
	}
	for _, b := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(pgBin, b)); err != nil {
			return false
		}
	}
	return true
}

// Each runs fn once per engine as a subtest named after the engine, each
// with its own fresh, migrated database.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(string(e), func(t *testing.T) {
			fn(t, Open(t, e))
		})
	}
}

// Open returns a fresh migrated store on engine e, closed when t ends.
func Open(t testing.TB, e store.Engine) *store.Store {
	t.Helper()
	url := URL(t, e)
	s, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", e, err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", e, err)
	}
	return s
}

// URL returns the DATABASE_URL of a fresh database on engine e, for tests
// that start real server processes against it. On SQLite it names a file
// that does not exist yet; on PostgreSQL it is a new database, already
// migrated (a copy of the template), dropped when t ends. Either way
// (*store.Store).Migrate brings it up to date.
func URL(t testing.TB, e store.Engine) string {
	t.Helper()
	switch e {
	case store.SQLite:
		return filepath.Join(t.TempDir(), "spendsense.db")
	case store.Postgres:
		return pgDatabase(t)
	}
	t.Fatalf("testdb: engine %s not available", e)
	return ""
}

// Main runs the tests, then stops the PostgreSQL server this process
// started (if any) and exits with the tests' code. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	pg.stop()
	os.Exit(code)
}

// pg is the per-process PostgreSQL state, set up on first use.
var pg pgState

type pgState struct {
	once     sync.Once
	err      error
	admin    *sql.DB  // maintenance connection: CREATE/DROP DATABASE
	base     *url.URL // URL of the server; the path is swapped per database
	template string   // migrated database every test database copies
	srv      *server  // nil when using SPENDSENSE_TEST_POSTGRES_URL
}

// pgDatabase creates a new database from the template and returns its URL.
func pgDatabase(t testing.TB) string {
	t.Helper()
	pg.once.Do(func() { pg.err = pgSetup() })
	if pg.err != nil {
		t.Fatalf("testdb: PostgreSQL: %v", pg.err)
	}
	name := "test_" + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := pg.admin.ExecContext(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s", name, pg.template)); err != nil {
		t.Fatalf("testdb: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = pg.admin.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", name))
	})
	return dbURL(name)
}

// dbURL is the server's URL pointed at database name.
func dbURL(name string) string {
	u := *pg.base
	u.Path = "/" + name
	return u.String()
}

// pgSetup connects to (or starts) the server and builds the template.
func pgSetup() error {
	if !pgAvailable() {
		return fmt.Errorf("%s=1 but there is no %s/initdb and %s is unset", envRequire, pgBin, envURL)
	}
	raw := os.Getenv(envURL)
	if raw == "" {
		srv, err := startServer()
		if err != nil {
			return err
		}
		pg.srv = srv
		raw = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", srv.port)
	}
	base, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", envURL, err)
	}
	pg.base = base
	if pg.admin, err = sql.Open("pgx", raw); err != nil { // driver registered by store
		return err
	}
	pg.admin.SetMaxOpenConns(4)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pg.template = "test_tpl_" + randomHex(8)
	if _, err := pg.admin.ExecContext(ctx, "CREATE DATABASE "+pg.template); err != nil {
		return fmt.Errorf("create template: %w", err)
	}
	s, err := store.Open(ctx, dbURL(pg.template), store.Options{MaxConns: 2})
	if err != nil {
		return fmt.Errorf("open template: %w", err)
	}
	_, err = s.Migrate(ctx)
	// A database with open connections cannot be copied; CREATE DATABASE
	// waits a few seconds for these to go away, which is plenty.
	s.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	return nil
}

// stop stops our own server, or drops the template from a shared one.
func (p *pgState) stop() {
	if p.admin != nil {
		if p.srv == nil && p.template != "" {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _ = p.admin.ExecContext(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", p.template))
			cancel()
		}
		p.admin.Close()
	}
	if p.srv != nil {
		p.srv.stop()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// server is a throwaway PostgreSQL owned by this test process.
type server struct {
	dir  string // temp dir holding data/, the unix socket and postgres.log
	port int
	cmd  *exec.Cmd
	done chan error // receives the postmaster's exit
}

// startServer runs initdb in a fresh temp dir and starts postgres on a free
// port. As root it runs both as the postgres user, since initdb refuses root.
func startServer() (*server, error) {
	began := time.Now()
	cred, err := postgresCredential()
	if err != nil {
		return nil, err
	}
	// The postgres user must reach the dir, and TMPDIR may be private to root.
	root := os.TempDir()
	if cred != nil {
		root = "/tmp"
	}
	sweepStale(root)
	dir, err := os.MkdirTemp(root, fmt.Sprintf("spendsense-pg-%d-", os.Getpid()))
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(pgBin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--locale=C", "--encoding=UTF8", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// Another process can take the free port between our probe and the
	// server's bind (parallel test binaries all do this), so try again.
	for attempt := 1; ; attempt++ {
		if err = s.start(data, cred); err == nil {
			break
		}
		if attempt == 3 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "testdb: PostgreSQL started on 127.0.0.1:%d in %v (%s)\n",
			s.port, time.Since(began).Round(time.Millisecond), dir)
	}
	return s, nil
}

// start launches postgres on a free port and waits until it answers.
func (s *server) start(data string, cred *syscall.Credential) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	logPath := filepath.Join(s.dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(pgBin, "postgres"), "-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(port),
		"-c", "unix_socket_directories="+s.dir,
		// Durability is worthless on a throwaway server; speed is not.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300")
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test process dies without reaching Main's cleanup (a panic, a
	// -timeout, SIGKILL), the kernel sends the postmaster SIGQUIT, which is
	// PostgreSQL's immediate shutdown: no server outlives its tests.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}

	started := make(chan error, 1)
	done := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child exits, not
		// the process (go.dev/issue/27505), so pin this goroutine to its
		// thread for as long as the postmaster lives.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			logf.Close()
			started <- err
			return
		}
		started <- nil
		done <- cmd.Wait()
		logf.Close()
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}

	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case err := <-done:
			return fmt.Errorf("postgres exited during startup (%v); log:\n%s", err, tail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if serves(port, data) {
			s.port, s.cmd, s.done = port, cmd, done
			return nil
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("postgres did not answer within a minute; log:\n%s", tail(logPath))
		}
	}
}

// serves reports whether our server (not another one that won the port)
// accepts connections on port.
func serves(port int, data string) bool {
	db, err := sql.Open("pgx", fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", port))
	if err != nil {
		return false
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var dir string
	if err := db.QueryRowContext(ctx, "SHOW data_directory").Scan(&dir); err != nil {
		return false
	}
	return dir == data
}

// stop shuts the server down immediately and removes its directory.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.dir)
}

// postgresCredential is nil for a normal user and the postgres user's ids
// when running as root.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, initdb needs the postgres user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, err
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// sweepStale removes the directories of servers whose test process died
// without cleaning up. (Their postmaster got SIGQUIT already; should one
// still run, it shuts itself down within a minute of its data dir going.)
func sweepStale(root string) {
	dirs, _ := filepath.Glob(filepath.Join(root, "spendsense-pg-*-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.Split(filepath.Base(d), "-")[2])
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the end of a log file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
