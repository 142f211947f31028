package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spendsense/operator-api/internal/auth"
	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/seed"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb/pgserver"
)

// Dataset describes the data the run worked on.
type Dataset struct {
	Recommendations, Users, AuditRows, Traces int64
	Pending                                   int64
	Reused                                    bool          // an existing dataset, not seeded by this run
	SeedTime                                  time.Duration // seed.Generate's wall time
	SeedRows                                  int           // rows seed wrote (all tables)
	AnalyzeTime                               time.Duration // PostgreSQL: VACUUM ANALYZE after the bulk load
	DBSize                                    int64         // bytes on disk (SQLite file or pg_database_size)
}

// env is everything a run holds: the database, the servers, the tokens and
// the id pools the scenarios draw from.
type env struct {
	cfg           *Config
	dir           string // temp dir: SQLite file, server logs
	ownDir        bool
	url           string // DATABASE_URL the servers get
	pg            *pgserver.Server
	dropDB        func() // drops a database this run created on a given server
	secret        string
	dataset       Dataset
	engineVersion string

	servers []*serverProc
	bases   []string // base URLs of the servers

	// Tokens: operators act and read, the ingest account ingests.
	opTokens    []string
	opIDs       []string
	ingestToken string

	// Read pools (any status), sampled at random.
	recIDs []string
	// pageIDs are the cards of the pending list's first pages, newest
	// first: what the dashboard shows, and asks the tags of, on every load.
	pageIDs  []string
	userIDs  []string
	auditOps []string // operator ids present in the audit trail
	auditRec []string // recommendation ids present in the audit trail
	// pool of pending, guardrail-passing ids, each handed out once.
	pool *idPool
	// deep cursors (~50 pages in) per list variant, by query string.
	deep []deepCursor
	// day is "today" in the data (the seed's anchor), for audit date filters.
	day time.Time
}

type deepCursor struct {
	query  string // the filter part, e.g. "persona=student"
	cursor string
	pages  int
}

// idPool hands out each id once, from any goroutine.
type idPool struct {
	ids  []string
	next atomic.Int64
}

func (p *idPool) take() (string, bool) {
	i := p.next.Add(1) - 1
	if i >= int64(len(p.ids)) {
		return "", false
	}
	return p.ids[i], true
}

func (p *idPool) remaining() int { return max(0, len(p.ids)-int(p.next.Load())) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setup makes the database, seeds it (unless it already holds data),
// creates operators and tokens and loads the id pools.
func setup(ctx context.Context, cfg *Config, logf func(string, ...any)) (*env, error) {
	e := &env{cfg: cfg, secret: randomHex(32)}
	dir, err := os.MkdirTemp("", "spendsense-bench-")
	if err != nil {
		return nil, err
	}
	e.dir, e.ownDir = dir, true

	switch {
	case cfg.DatabaseURL != "":
		e.url = cfg.DatabaseURL
	case cfg.Engine == "sqlite":
		e.url = filepath.Join(dir, "bench.db")
	default:
		logf("starting a throwaway PostgreSQL (%s)", pgserver.Bin())
		// Commits as durable as SQLite's WAL with synchronous=NORMAL (a crash
		// may lose the last transactions, never consistency), and memory for
		// a dataset of this size; see pgSettings.
		srv, err := pgserver.Start(append(pgSettings(), cfg.PGSettings...)...)
		if err != nil {
			return e, err
		}
		e.pg = srv
		admin, err := sql.Open("pgx", srv.URL("postgres"))
		if err != nil {
			return e, err
		}
		_, err = admin.ExecContext(ctx, "CREATE DATABASE bench")
		admin.Close()
		if err != nil {
			return e, fmt.Errorf("create database: %w", err)
		}
		e.url = srv.URL("bench")
	}

	s, err := store.Open(ctx, e.url, store.Options{})
	if err != nil {
		return e, err
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		return e, err
	}
	e.engineVersion = engineVersion(ctx, s)

	var recs int64
	if err := s.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM recommendations LIMIT 1) x`).Scan(&recs); err != nil {
		return e, err
	}
	if recs > 0 {
		logf("reusing the dataset already in the database (no seed)")
		e.dataset.Reused = true
	} else {
		logf("seeding %d recommendations for %d users (seed %d)", cfg.Size, cfg.Users, cfg.Seed)
		sum, err := seed.Generate(ctx, s, seed.Options{Users: cfg.Users, Recommendations: cfg.Size, Seed: cfg.Seed, Progress: cfg.Progress})
		if err != nil {
			return e, fmt.Errorf("seed: %w", err)
		}
		e.dataset.SeedTime, e.dataset.SeedRows = sum.Elapsed, sum.Rows()
		logf("seeded %d rows in %s (%.0f rows/s)", sum.Rows(), sum.Elapsed.Round(time.Millisecond), float64(sum.Rows())/sum.Elapsed.Seconds())
		if s.Engine == store.Postgres {
			// A bulk load leaves the planner without statistics and the
			// tables without a visibility map until autovacuum gets round
			// to them, which it then did during the measured runs (a
			// VACUUM of the million traces competing with every scenario),
			// and without the map no index-only scan is possible. An
			// operator runs VACUUM ANALYZE after a bulk load.
			began := time.Now()
			if _, err := s.Write.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
				return e, fmt.Errorf("vacuum analyze: %w", err)
			}
			e.dataset.AnalyzeTime = time.Since(began)
			logf("VACUUM ANALYZE in %s", e.dataset.AnalyzeTime.Round(time.Millisecond))
		}
	}
	if err := e.count(ctx, s); err != nil {
		return e, err
	}
	if err := e.operators(ctx, s); err != nil {
		return e, err
	}
	if err := e.loadPools(ctx, s); err != nil {
		return e, err
	}
	logf("dataset: %d recommendations (%d pending), %d users, %d audit rows, %d traces; %s on disk",
		e.dataset.Recommendations, e.dataset.Pending, e.dataset.Users, e.dataset.AuditRows, e.dataset.Traces, mib(e.dataset.DBSize))
	if s.Engine == store.SQLite {
		e.warmPageCache(logf)
	}
	return e, nil
}

// warmPageCache reads the SQLite file once, so the runs start with the
// operating system's page cache holding it, as it would for a server that
// has been up a while (a copied or long-idle file would otherwise make the
// first runs measure the disk).
func (e *env) warmPageCache(logf func(string, ...any)) {
	began := time.Now()
	var n int64
	for _, path := range []string{e.url, e.url + "-wal"} {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		m, _ := io.Copy(io.Discard, f)
		f.Close()
		n += m
	}
	logf("read %s of database files into the page cache in %s", mib(n), time.Since(began).Round(time.Millisecond))
}

// pgSettings are the throwaway server's settings for a benchmark: fsync on
// (unlike the tests' server) but asynchronous commit, which is the same
// promise SQLite's WAL with synchronous=NORMAL makes; shared_buffers sized
// for the dataset instead of the 128 MB default.
func pgSettings() []string {
	return []string{
		"fsync=on",
		"full_page_writes=on",
		"synchronous_commit=off",
		"shared_buffers=1GB",
		"effective_cache_size=8GB",
		"max_wal_size=8GB",
		"checkpoint_timeout=15min",
	}
}

func engineVersion(ctx context.Context, s *store.Store) string {
	var v string
	if s.Engine == store.Postgres {
		if err := s.Read.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
			return "PostgreSQL"
		}
		return "PostgreSQL " + v
	}
	if err := s.Read.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&v); err != nil {
		return "SQLite"
	}
	return "SQLite " + v + " (modernc.org/sqlite, WAL, synchronous=NORMAL)"
}

func (e *env) count(ctx context.Context, s *store.Store) error {
	d := &e.dataset
	err := s.Read.QueryRowContext(ctx, `SELECT
 (SELECT COUNT(*) FROM recommendations),
 (SELECT COUNT(*) FROM recommendations WHERE status = 'pending'),
 (SELECT COUNT(*) FROM users),
 (SELECT COUNT(*) FROM operator_audit_log),
 (SELECT COUNT(*) FROM decision_traces)`).Scan(&d.Recommendations, &d.Pending, &d.Users, &d.AuditRows, &d.Traces)
	if err != nil {
		return fmt.Errorf("count dataset: %w", err)
	}
	if s.Engine == store.Postgres {
		err = s.Read.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&d.DBSize)
	} else {
		err = s.Read.QueryRowContext(ctx, `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`).Scan(&d.DBSize)
	}
	if err != nil {
		return fmt.Errorf("database size: %w", err)
	}
	return nil
}

// Operators the benchmark acts as. Eight operators share the actions, as a
// team would; one ingest account pushes new work.
const benchOperators = 8

func (e *env) operators(ctx context.Context, s *store.Store) error {
	issuer, err := auth.NewIssuer([]byte(e.secret), 12*time.Hour)
	if err != nil {
		return err
	}
	// One hash for all: bcrypt is deliberately slow, and nobody logs in.
	hash, err := auth.HashPassword(randomHex(16))
	if err != nil {
		return err
	}
	add := func(id string, role review.Role) (string, error) {
		err := s.CreateOperator(ctx, review.Operator{ID: id, Name: "Bench " + id, Role: role}, hash)
		if err != nil && review.ErrorCode(err) != review.EConflict { // a re-run: already there
			return "", fmt.Errorf("create operator %s: %w", id, err)
		}
		tok, _, err := issuer.Issue(id, role)
		return tok, err
	}
	for i := 1; i <= benchOperators; i++ {
		id := fmt.Sprintf("bench_op_%02d", i)
		tok, err := add(id, review.RoleOperator)
		if err != nil {
			return err
		}
		e.opIDs, e.opTokens = append(e.opIDs, id), append(e.opTokens, tok)
	}
	e.ingestToken, err = add("bench_ingest", review.RoleIngest)
	return err
}

// loadPools reads what the scenarios need: random recommendation and user
// ids to read, operators and recommendations with audit rows, and every
// pending, guardrail-passing id (shuffled) for the actions.
func (e *env) loadPools(ctx context.Context, s *store.Store) error {
	rng := mrand.New(mrand.NewPCG(uint64(e.cfg.Seed), 0xbe7c4))
	strs := func(q string, args ...any) ([]string, error) {
		rows, err := s.Read.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, rows.Err()
	}
	var err error
	// Sampling by a random permutation of rowids would be faster, but this
	// is simple and takes a second or two at a million rows.
	if e.recIDs, err = strs(`SELECT recommendation_id FROM recommendations ORDER BY random() LIMIT 50000`); err != nil {
		return fmt.Errorf("sample recommendations: %w", err)
	}
	if e.pageIDs, err = strs(`SELECT recommendation_id FROM recommendations WHERE status = 'pending'
ORDER BY created_at DESC, recommendation_id DESC LIMIT 1000`); err != nil {
		return fmt.Errorf("first pages: %w", err)
	}
	if err := e.tagCards(ctx, s); err != nil {
		return err
	}
	if e.userIDs, err = strs(`SELECT user_id FROM users ORDER BY random() LIMIT 20000`); err != nil {
		return fmt.Errorf("sample users: %w", err)
	}
	if e.auditOps, err = strs(`SELECT DISTINCT operator_id FROM operator_audit_log`); err != nil {
		return fmt.Errorf("audit operators: %w", err)
	}
	if e.auditRec, err = strs(`SELECT recommendation_id FROM operator_audit_log ORDER BY random() LIMIT 5000`); err != nil {
		return fmt.Errorf("sample audit: %w", err)
	}
	passing := "guardrails_passed = 1"
	if s.Engine == store.Postgres {
		passing = "guardrails_passed"
	}
	pending, err := strs(`SELECT recommendation_id FROM recommendations WHERE status = 'pending' AND ` + passing +
		` AND claimed_by IS NULL ORDER BY recommendation_id`)
	if err != nil {
		return fmt.Errorf("pending ids: %w", err)
	}
	rng.Shuffle(len(pending), func(i, j int) { pending[i], pending[j] = pending[j], pending[i] })
	e.pool = &idPool{ids: pending}
	if len(e.recIDs) == 0 || len(e.userIDs) == 0 {
		return errors.New("the dataset has no recommendations or no users")
	}
	// Non-bench operators only: their audit rows are the seeded history.
	ops := e.auditOps[:0]
	for _, op := range e.auditOps {
		if !strings.HasPrefix(op, "bench_") {
			ops = append(ops, op)
		}
	}
	e.auditOps = ops
	if len(e.auditOps) == 0 {
		e.auditOps = []string{e.opIDs[0]}
	}
	if len(e.auditRec) == 0 {
		e.auditRec = e.recIDs[:1]
	}
	var newestT store.NullTime
	if err := s.Read.QueryRowContext(ctx, `SELECT MAX(created_at) FROM recommendations`).Scan(&newestT); err != nil {
		return fmt.Errorf("newest recommendation: %w", err)
	}
	e.day = time.Now().UTC().Truncate(24 * time.Hour)
	if newestT.Valid {
		e.day = newestT.Time.Truncate(24 * time.Hour)
	}
	return nil
}

// close stops what is still running and removes what the run made, unless
// Keep.
func (e *env) close(logf func(string, ...any)) {
	e.stopServers(logf)
	if e.cfg.Keep {
		switch {
		case e.pg != nil:
			logf("--keep: a throwaway PostgreSQL cannot outlive the run; its data goes with it")
		default:
			logf("--keep: dataset kept: DATABASE_URL=%s (server logs in %s)", redact(e.url), e.dir)
			return
		}
	}
	if e.pg != nil {
		e.pg.Stop()
	}
	if e.ownDir && !(e.cfg.Keep && e.pg == nil) {
		os.RemoveAll(e.dir)
	}
}

// check runs the invariant check over the database the run wrote to.
func (e *env) check(ctx context.Context, logf func(string, ...any)) string {
	began := time.Now()
	s, err := store.Open(ctx, e.url, store.Options{})
	if err != nil {
		return "error: " + err.Error()
	}
	defer s.Close()
	vs, err := s.Check(ctx)
	if err != nil {
		return "error: " + err.Error()
	}
	took := time.Since(began).Round(time.Millisecond)
	if len(vs) == 0 {
		logf("invariant check: all hold (%s)", took)
		return fmt.Sprintf("all invariants hold after the run (`spendsense check`, %s)", took)
	}
	var parts []string
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf("%s: %d row(s)", v.Invariant, v.Count))
	}
	logf("invariant check: VIOLATED: %s", strings.Join(parts, "; "))
	return "VIOLATED: " + strings.Join(parts, "; ")
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

// tagCards tags every fourth card of the first pages (as operators do the
// ones worth a second look), so the per-card tag reads find tags. A
// dataset reused from an earlier run already has them.
func (e *env) tagCards(ctx context.Context, s *store.Store) error {
	names := []string{"needs_review", "edge_case", "training_example", "tone_concern"}
	actor := review.Actor{ID: e.opIDs[0], Role: review.RoleOperator}
	for i := 0; i < len(e.pageIDs); i += 4 {
		_, err := s.AddTag(ctx, actor, e.pageIDs[i], names[(i/4)%len(names)])
		if err != nil && review.ErrorCode(err) != review.EConflict {
			return fmt.Errorf("tag cards: %w", err)
		}
	}
	return nil
}
