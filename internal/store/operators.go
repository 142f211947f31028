package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/spendsense/operator-api/internal/review"
)

const operatorColumns = `o.operator_id, o.name, o.email, o.role, o.disabled, o.created_at, o.last_login_at, o.token_epoch`

func scanOperator(row rowScanner, extra ...any) (*review.Operator, error) {
	var (
		op      review.Operator
		email   sql.NullString
		role    string
		created Time
		login   NullTime
	)
	dest := append([]any{&op.ID, &op.Name, &email, &role, &op.Disabled, &created, &login, &op.TokenEpoch}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	op.Email, op.Role, op.CreatedAt = strPtr(email), review.Role(role), created.Time
	if login.Valid {
		t := login.Time
		op.LastLoginAt = &t
	}
	return &op, nil
}

// CreateOperator adds an operator with an already hashed password, without
// an audit row: for provisioning that is not administration (demo data,
// benchmarks, test fixtures). An operator added by someone goes through
// AddOperator. A taken operator id or email is a conflict; a bad id, name,
// email or role is invalid. op.Disabled is honoured; op.CreatedAt is set by
// the store.
func (s *Store) CreateOperator(ctx context.Context, op review.Operator, passwordHash string) error {
	if err := normalizeOperator(&op, passwordHash); err != nil {
		return err
	}
	return s.WithTx(ctx, func(tx *Tx) error { return tx.insertOperator(ctx, op, passwordHash) })
}

// normalizeOperator trims op's name and e-mail and checks its fields.
func normalizeOperator(op *review.Operator, passwordHash string) error {
	op.Normalize()
	if err := op.Validate(); err != nil {
		return err
	}
	if passwordHash == "" {
		return review.Errorf(review.EInvalid, "operator password hash must not be empty")
	}
	return nil
}

// insertOperator adds a checked operator inside tx.
func (tx *Tx) insertOperator(ctx context.Context, op review.Operator, passwordHash string) error {
	// Check first so the message can say which value is taken; the
	// unique constraints (mapped below) still catch a concurrent insert.
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM operators WHERE operator_id = ?`, op.ID).Scan(&n); err != nil {
		return fmt.Errorf("check operator id: %w", err)
	}
	if n > 0 {
		return review.Errorf(review.EConflict, "operator %q already exists", op.ID)
	}
	if op.Email != nil {
		if err := tx.emailTaken(ctx, *op.Email, ""); err != nil {
			return err
		}
	}
	now := tx.s.ts(tx.Now)
	_, err := tx.Exec(ctx, `INSERT INTO operators (operator_id, name, email, role, password_hash, disabled, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, op.ID, op.Name, op.Email, string(op.Role), passwordHash, op.Disabled, now, now)
	if isUniqueViolation(err) {
		return review.Errorf(review.EConflict, "operator %q or its email already exists", op.ID)
	}
	if err != nil {
		return fmt.Errorf("insert operator: %w", err)
	}
	return nil
}

// emailTaken is a conflict if an operator other than except has email.
func (tx *Tx) emailTaken(ctx context.Context, email, except string) error {
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM operators WHERE lower(email) = ? AND operator_id <> ?`, email, except).Scan(&n); err != nil {
		return fmt.Errorf("check operator email: %w", err)
	}
	if n > 0 {
		return review.Errorf(review.EConflict, "an operator with email %q already exists", email)
	}
	return nil
}

// isUniqueViolation reports whether err is a driver's unique (or primary
// key) constraint violation, on either engine.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505" // unique_violation
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		c := liteErr.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// GetOperator returns one operator, disabled or not.
func (s *Store) GetOperator(ctx context.Context, id string) (*review.Operator, error) {
	row := s.reads().QueryRow(ctx, `SELECT `+operatorColumns+` FROM operators o WHERE o.operator_id = ?`, id)
	op, err := scanOperator(row)
	if errors.Is(err, errNotFound) {
		return nil, review.Errorf(review.ENotFound, "operator %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get operator: %w", err)
	}
	return op, nil
}

// OperatorCredentials looks an operator up for a login, by operator id or by
// email (in any case), and returns it with its password hash. An exact id
// match wins over an email match. A disabled operator is returned too (with
// Disabled set): the caller must still check the password, to spend the same
// time, and then refuse it exactly like a wrong password. No match is
// ENotFound; call auth.DummyCheck then.
func (s *Store) OperatorCredentials(ctx context.Context, idOrEmail string) (*review.Operator, string, error) {
	ident := strings.TrimSpace(idOrEmail)
	if ident == "" {
		return nil, "", review.Errorf(review.ENotFound, "operator not found")
	}
	var hash string
	row := s.reads().QueryRow(ctx, `SELECT `+operatorColumns+`, o.password_hash FROM operators o
WHERE o.operator_id = ? OR lower(o.email) = ?
ORDER BY CASE WHEN o.operator_id = ? THEN 0 ELSE 1 END
LIMIT 1`, ident, strings.ToLower(ident), ident)
	op, err := scanOperator(row, &hash)
	if errors.Is(err, errNotFound) {
		return nil, "", review.Errorf(review.ENotFound, "operator not found")
	}
	if err != nil {
		return nil, "", fmt.Errorf("operator credentials: %w", err)
	}
	return op, hash, nil
}

// ListOperators returns every operator, by id.
func (s *Store) ListOperators(ctx context.Context) ([]review.Operator, error) {
	rows, err := s.reads().Query(ctx, `SELECT `+operatorColumns+` FROM operators o ORDER BY o.operator_id`)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	defer rows.Close()
	out := []review.Operator{}
	for rows.Next() {
		op, err := scanOperator(rows)
		if err != nil {
			return nil, fmt.Errorf("list operators: %w", err)
		}
		out = append(out, *op)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return out, nil
}

func mustAffectOperator(res sql.Result, err error, id, what string) error {
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return review.Errorf(review.ENotFound, "operator %q not found", id)
	}
	return nil
}

// errBadToken is Authenticate's one answer for every refusal, so a client
// cannot tell a revoked token from a disabled or deleted operator.
func errBadToken() error { return review.Errorf(review.EUnauthorized, "invalid or expired token") }

// Authenticate is the per-request check after a token's signature has been
// verified: in one query it returns the token's operator if that operator
// exists, is not disabled, has not changed its password since the token was
// issued (epoch is the token's password epoch), and the token (jti) has not
// been revoked. Anything else is EUnauthorized. The operator's current role
// is returned: callers should authorize with it, not with the role the
// token carried.
func (s *Store) Authenticate(ctx context.Context, operatorID, jti string, epoch int64) (*review.Operator, error) {
	if operatorID == "" || jti == "" {
		return nil, errBadToken()
	}
	var revoked sql.NullString
	row := s.reads().QueryRow(ctx, `SELECT `+operatorColumns+`, r.jti FROM operators o
LEFT JOIN revoked_tokens r ON r.jti = ?
WHERE o.operator_id = ?`, jti, operatorID)
	op, err := scanOperator(row, &revoked)
	if errors.Is(err, errNotFound) {
		return nil, errBadToken()
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if op.Disabled || revoked.Valid || epoch < op.TokenEpoch {
		return nil, errBadToken()
	}
	return op, nil
}

// RevokeToken refuses a token (by jti) from now on, until expiresAt, when it
// would have expired anyway and purgeExpired may forget it. Revoking twice
// is not an error.
func (s *Store) RevokeToken(ctx context.Context, jti string, expiresAt time.Time) error {
	if jti == "" {
		return review.Errorf(review.EInvalid, "token has no id to revoke")
	}
	return s.WithTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO revoked_tokens (jti, expires_at) VALUES (?, ?) ON CONFLICT (jti) DO NOTHING`,
			jti, tx.s.ts(expiresAt))
		if err != nil {
			return fmt.Errorf("revoke token: %w", err)
		}
		return nil
	})
}

// tokenRevoked reports whether jti has been revoked.
func (s *Store) tokenRevoked(ctx context.Context, jti string) (bool, error) {
	var n int
	err := s.reads().QueryRow(ctx, `SELECT COUNT(*) FROM revoked_tokens WHERE jti = ?`, jti).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("token revoked: %w", err)
	}
	return n > 0, nil
}

// purgeExpired forgets revoked tokens that have expired by now (Verify
// refuses them on their expiry alone) and login allowances left alone for
// LoginFailureWindow (throttle.go). It returns how many rows it deleted.
func (s *Store) purgeExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	err := s.WithTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `DELETE FROM revoked_tokens WHERE expires_at < ?`, tx.s.ts(now))
		if err != nil {
			return fmt.Errorf("purge revoked tokens: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		res, err = tx.Exec(ctx, `DELETE FROM login_failures WHERE COALESCE(locked_until, window_start) <= ?`,
			loginTime(now.Add(-LoginFailureWindow)))
		if err != nil {
			return fmt.Errorf("purge login failures: %w", err)
		}
		n, _ = res.RowsAffected()
		total += n
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
