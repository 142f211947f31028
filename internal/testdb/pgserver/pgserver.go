// Package pgserver starts throwaway PostgreSQL servers (15 or newer) from
// the server binaries found on this machine (see Bin): the tests' second
// engine (internal/testdb) and the load benchmark's are started the same
// way. It does not
// import package testing, so commands may use it.
package pgserver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to see the server answer
)

// DebianBin is where Debian's and Ubuntu's postgresql-15 package puts the
// server binaries (not on PATH there).
const DebianBin = "/usr/lib/postgresql/15/bin"

// EnvBin names a folder holding initdb and postgres, ahead of every other
// place Bin looks.
const EnvBin = "SPENDSENSE_PG_BIN"

// Bin finds the folder holding the server binaries (initdb and postgres):
// $SPENDSENSE_PG_BIN, then PATH (Homebrew, Fedora, Arch, Nix, a
// PostgreSQL.app), then `pg_config --bindir`, then Debian's folders, the
// newest version first. "" means none was found; Searched says where it
// looked.
func Bin() string {
	for _, dir := range candidates() {
		if hasServer(dir) {
			return dir
		}
	}
	return ""
}

// Searched describes, for messages, where Bin looks.
func Searched() string {
	return "$" + EnvBin + ", PATH, `pg_config --bindir`, /usr/lib/postgresql/*/bin"
}

func candidates() []string {
	var dirs []string
	if d := os.Getenv(EnvBin); d != "" {
		dirs = append(dirs, d)
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dirs = append(dirs, strings.TrimSpace(string(out)))
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest first: "9.6" sorts after "17" as text, so by number.
	sort.Slice(debian, func(i, j int) bool { return pgMajor(debian[i]) > pgMajor(debian[j]) })
	return append(append(dirs, debian...), DebianBin)
}

func pgMajor(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func hasServer(dir string) bool {
	for _, b := range []string{"initdb", "postgres"} {
		if fi, err := os.Stat(filepath.Join(dir, b)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// Available reports whether the server binaries are installed.
func Available() bool { return Bin() != "" }

// Defaults are the settings every server starts with. Durability is
// worthless on a throwaway server; speed is not. Settings given to Start
// come after these, and PostgreSQL lets the last -c for a name win.
var Defaults = []string{
	"fsync=off",
	"synchronous_commit=off",
	"full_page_writes=off",
	"max_connections=300",
}

// Server is a throwaway PostgreSQL owned by this process.
type Server struct {
	Dir     string        // temp dir holding data/, the unix socket and postgres.log
	Port    int           // on 127.0.0.1
	Elapsed time.Duration // initdb and start-up
	cmd     *exec.Cmd
	done    chan error // receives the postmaster's exit
	// what start was given, for Restart
	bin  string
	data string
	cred *syscall.Credential
	conf []string
}

// URL is the connection URL of database db (user postgres, trust auth).
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Start runs initdb in a fresh temp dir and starts postgres on a free port,
// with Defaults and then settings ("name=value") as -c options. As root it
// runs both as the postgres user, since initdb refuses root. If this process
// dies without calling Stop, the kernel sends the postmaster SIGQUIT
// (PostgreSQL's immediate shutdown), and the next Start removes the
// directory it left.
func Start(settings ...string) (*Server, error) {
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
	s := &Server{Dir: dir}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	bin := Bin()
	if bin == "" {
		return nil, fmt.Errorf("no PostgreSQL server binaries (initdb, postgres) in %s", Searched())
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--locale=C", "--encoding=UTF8", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	conf := append(append([]string{}, Defaults...), settings...)
	// Another process can take the free port between our probe and the
	// server's bind (parallel test binaries all do this), so try again.
	for attempt := 1; ; attempt++ {
		if err = s.start(bin, data, cred, conf, 0); err == nil {
			break
		}
		if attempt == 3 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	s.Elapsed = time.Since(began)
	return s, nil
}

// start launches postgres on a free port and waits until it answers.
func (s *Server) start(bin, data string, cred *syscall.Credential, conf []string, port int) error {
	s.bin, s.data, s.cred, s.conf = bin, data, cred, conf
	var err error
	if port == 0 {
		if port, err = freePort(); err != nil {
			return err
		}
	}
	logPath := filepath.Join(s.Dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	args := []string{"-D", data,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + s.Dir}
	for _, c := range conf {
		args = append(args, "-c", c)
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Dir = s.Dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// If this process dies without calling Stop (a panic, a test -timeout,
	// SIGKILL), the kernel sends the postmaster SIGQUIT, which is
	// PostgreSQL's immediate shutdown: no server outlives its owner.
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
			s.Port, s.cmd, s.done = port, cmd, done
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

// Stop shuts the server down immediately and removes its directory.
func (s *Server) Stop() {
	_ = s.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	os.RemoveAll(s.Dir)
}

// Kill shuts the server down at once (SIGQUIT, PostgreSQL's immediate
// shutdown, like a crash) and keeps its data for Restart: the outage the
// reliability tests put a running service through.
func (s *Server) Kill() {
	_ = s.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Restart starts a killed server again on its port, with its data.
func (s *Server) Restart() error { return s.start(s.bin, s.data, s.cred, s.conf, s.Port) }

// Freeze stops the postmaster and every backend (SIGSTOP): connections stay
// open and nothing answers, as with a database host that hangs. Thaw
// resumes them.
func (s *Server) Freeze() error { return s.signalAll(syscall.SIGSTOP) }

// Thaw resumes a frozen server (SIGCONT).
func (s *Server) Thaw() error { return s.signalAll(syscall.SIGCONT) }

// signalAll signals the postmaster and its children (the backends and
// background workers), found by their parent in /proc.
func (s *Server) signalAll(sig syscall.Signal) error {
	pid := s.cmd.Process.Pid
	pids := []int{pid}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces, so split after ')'
		rest := string(stat[strings.LastIndexByte(string(stat), ')')+1:])
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			pids = append(pids, child)
		}
	}
	if sig == syscall.SIGCONT {
		slices.Reverse(pids) // children first, then the postmaster
	}
	for _, p := range pids {
		if err := syscall.Kill(p, sig); err != nil && p == pid {
			return err
		}
	}
	return nil
}

// Log returns the end of the server's log, for error messages.
func (s *Server) Log() string { return tail(filepath.Join(s.Dir, "postgres.log")) }

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

// sweepStale removes the directories of servers whose owning process died
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
