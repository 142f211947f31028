package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spendsense/operator-api/internal/review"
)

// CLIActor is the audit trail's operator_id for administration done from
// the command line, where no operator is logged in.
const CLIActor = "cli"

// AddOperator is CreateOperator done by someone (an admin's id, or
// CLIActor): the operator and its operator_add audit row in one
// transaction.
func (s *Store) AddOperator(ctx context.Context, by string, op review.Operator, passwordHash string) (*review.Operator, error) {
	if err := normalizeOperator(&op, passwordHash); err != nil {
		return nil, err
	}
	var out *review.Operator
	err := s.WithTx(ctx, func(tx *Tx) error {
		if err := tx.insertOperator(ctx, op, passwordHash); err != nil {
			return err
		}
		if _, err := tx.audit(ctx, AuditRecord{OperatorID: by, Action: review.ActionOperatorAdd, Metadata: map[string]any{
			"target_operator_id": op.ID, "name": op.Name, "email": op.Email, "role": op.Role, "enabled": !op.Disabled,
		}}); err != nil {
			return err
		}
		var err error
		if out, err = tx.operatorForUpdate(ctx, op.ID); err != nil {
			return err
		}
		return tx.recordIdem(ctx, out) // the keyed response renders the operator
	})
	return out, err
}

// UpdateOperator applies ch to operator id for by (an admin's id, or
// CLIActor), in one transaction with one audit row per kind of change:
// operator_enable or operator_disable, operator_role (from, to), and
// operator_edit for the name and e-mail. A change that changes nothing
// writes nothing. Disabling or demoting the last enabled admin is a
// conflict: nobody could administer operators any more. Disabling and role
// changes take effect on the operator's next request (Authenticate reads
// both every time); disabling ends the operator's tokens for good.
func (s *Store) UpdateOperator(ctx context.Context, by, id string, ch review.OperatorChange) (*review.Operator, error) {
	if ch.Name != nil {
		n := strings.TrimSpace(*ch.Name)
		ch.Name = &n
	}
	var out *review.Operator
	err := s.WithTx(ctx, func(tx *Tx) error {
		if (ch.Enabled != nil && !*ch.Enabled) || ch.Role != nil {
			// This may take away an admin: lock every admin first, always
			// in the same order, so that concurrent changes see each other
			// (two admins disabling each other cannot both succeed) and
			// never deadlock.
			if err := tx.lockAdmins(ctx); err != nil {
				return err
			}
		}
		cur, err := tx.operatorForUpdate(ctx, id)
		if err != nil {
			return err
		}
		next := applyChange(*cur, ch)
		if err := tx.checkOperatorChange(ctx, id, cur, &next); err != nil {
			return err
		}
		rows := operatorChangeAudit(by, id, cur, &next)
		if len(rows) == 0 {
			out = cur
			return tx.recordIdem(ctx, out)
		}
		if err := tx.writeOperatorChange(ctx, id, cur, &next); err != nil {
			return err
		}
		if _, err := tx.writeAudit(ctx, rows); err != nil {
			return err
		}
		out = &next
		return tx.recordIdem(ctx, out)
	})
	return out, err
}

// applyChange returns op with the fields ch sets changed.
func applyChange(op review.Operator, ch review.OperatorChange) review.Operator {
	if ch.Name != nil {
		op.Name = *ch.Name
	}
	if ch.Email != nil {
		op.Email = review.NormalizeEmail(ch.Email)
	}
	if ch.Role != nil {
		op.Role = *ch.Role
	}
	if ch.Enabled != nil {
		op.Disabled = !*ch.Enabled
	}
	return op
}

// checkOperatorChange refuses a change from cur to next that leaves an
// invalid operator, takes another operator's e-mail, or takes away the last
// enabled admin.
func (tx *Tx) checkOperatorChange(ctx context.Context, id string, cur, next *review.Operator) error {
	if err := normalizeOperator(next, "unchanged"); err != nil {
		return err
	}
	if next.Email != nil && !sameString(next.Email, cur.Email) {
		if err := tx.emailTaken(ctx, *next.Email, id); err != nil {
			return err
		}
	}
	wasAdmin := cur.Role == review.RoleAdmin && !cur.Disabled
	isAdmin := next.Role == review.RoleAdmin && !next.Disabled
	if wasAdmin && !isAdmin {
		return tx.keepAnAdmin(ctx, id)
	}
	return nil
}

// operatorChangeAudit is one audit row per kind of change from cur to next
// (edit, role, enable/disable), none when nothing changes.
func operatorChangeAudit(by, id string, cur, next *review.Operator) []AuditRecord {
	var rows []AuditRecord
	target := map[string]any{"target_operator_id": id}
	with := func(kv ...any) map[string]any {
		m := map[string]any{"target_operator_id": id}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	}
	edits := map[string]any{}
	if next.Name != cur.Name {
		edits["name"] = map[string]any{"from": cur.Name, "to": next.Name}
	}
	if !sameString(next.Email, cur.Email) {
		edits["email"] = map[string]any{"from": cur.Email, "to": next.Email}
	}
	if len(edits) > 0 {
		rows = append(rows, AuditRecord{OperatorID: by, Action: review.ActionOperatorEdit, Metadata: with("changes", edits)})
	}
	if next.Role != cur.Role {
		rows = append(rows, AuditRecord{OperatorID: by, Action: review.ActionOperatorRole, Metadata: with("from", cur.Role, "to", next.Role)})
	}
	if next.Disabled != cur.Disabled {
		action := review.ActionOperatorEnable
		if next.Disabled {
			action = review.ActionOperatorDisable
		}
		rows = append(rows, AuditRecord{OperatorID: by, Action: action, Metadata: target})
	}
	return rows
}

// writeOperatorChange stores next over cur. Disabling also ends every token
// issued so far (token_epoch, which next then carries), so that enabling the
// operator again does not bring back a token taken before it was disabled.
func (tx *Tx) writeOperatorChange(ctx context.Context, id string, cur, next *review.Operator) error {
	bump := 0
	if next.Disabled && !cur.Disabled {
		bump = 1
	}
	if _, err := tx.Exec(ctx, `UPDATE operators SET name = ?, email = ?, role = ?, disabled = ?, token_epoch = token_epoch + ?, updated_at = ? WHERE operator_id = ?`,
		next.Name, next.Email, string(next.Role), next.Disabled, bump, tx.s.ts(tx.Now), id); err != nil {
		if isUniqueViolation(err) {
			return review.Errorf(review.EConflict, "an operator with email %q already exists", *next.Email)
		}
		return fmt.Errorf("update operator: %w", err)
	}
	next.TokenEpoch += int64(bump)
	return nil
}

// SetOperatorPassword replaces operator id's password hash for by (an
// admin, the operator itself, or CLIActor) and ends every token issued
// before the change, with an operator_passwd audit row, in one transaction.
// The caller applies the password rule (auth.NewPasswordHash) first.
func (s *Store) SetOperatorPassword(ctx context.Context, by, id, passwordHash string) error {
	if passwordHash == "" {
		return review.Errorf(review.EInvalid, "operator password hash must not be empty")
	}
	return s.WithTx(ctx, func(tx *Tx) error {
		res, err := tx.Exec(ctx, `UPDATE operators SET password_hash = ?, token_epoch = token_epoch + 1, updated_at = ? WHERE operator_id = ?`,
			passwordHash, tx.s.ts(tx.Now), id)
		if err := mustAffectOperator(res, err, id, "set operator password"); err != nil {
			return err
		}
		_, err = tx.audit(ctx, AuditRecord{OperatorID: by, Action: review.ActionOperatorPasswd,
			Metadata: map[string]any{"target_operator_id": id, "self": by == id}})
		if err != nil {
			return err
		}
		return tx.recordIdem(ctx)
	})
}

// TouchLastLogin records a successful login of operator id.
func (s *Store) TouchLastLogin(ctx context.Context, id string) error {
	return s.WithTx(ctx, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE operators SET last_login_at = ? WHERE operator_id = ?`, tx.s.ts(tx.Now), id)
		if err != nil {
			return fmt.Errorf("record login: %w", err)
		}
		return nil
	})
}

// operatorForUpdate reads operator id inside tx, locking its row on
// PostgreSQL.
func (tx *Tx) operatorForUpdate(ctx context.Context, id string) (*review.Operator, error) {
	op, err := scanOperator(tx.QueryRow(ctx, `SELECT `+operatorColumns+` FROM operators o WHERE o.operator_id = ?`+tx.s.d.forUpdate(), id))
	if errors.Is(err, errNotFound) {
		return nil, review.Errorf(review.ENotFound, "operator %q not found", id)
	}
	if err != nil {
		return nil, fmt.Errorf("get operator: %w", err)
	}
	return op, nil
}

// lockAdmins locks the rows of every admin, in id order (PostgreSQL; on
// SQLite the write transaction is already exclusive).
func (tx *Tx) lockAdmins(ctx context.Context) error {
	rows, err := tx.Query(ctx, `SELECT operator_id FROM operators WHERE role = ? ORDER BY operator_id`+tx.s.d.forUpdate(), string(review.RoleAdmin))
	if err != nil {
		return fmt.Errorf("lock admins: %w", err)
	}
	defer rows.Close()
	for rows.Next() { // reading the rows is what takes their locks
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lock admins: %w", err)
	}
	return nil
}

// keepAnAdmin is a conflict unless an enabled admin other than id remains.
// The caller holds lockAdmins.
func (tx *Tx) keepAnAdmin(ctx context.Context, id string) error {
	var n int
	err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM operators WHERE role = ? AND disabled = ? AND operator_id <> ?`,
		string(review.RoleAdmin), false, id).Scan(&n)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if n == 0 {
		return review.Errorf(review.EConflict, "operator %q is the last enabled admin: enable or promote another admin first", id)
	}
	return nil
}

func sameString(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// DisableOperator is UpdateOperator disabling id: no login, and its tokens
// are refused from its next request. Disabling a disabled operator changes
// nothing.
func (s *Store) DisableOperator(ctx context.Context, by, id string) error {
	off := false
	_, err := s.UpdateOperator(ctx, by, id, review.OperatorChange{Enabled: &off})
	return err
}
