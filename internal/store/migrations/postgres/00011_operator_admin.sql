-- +goose Up
-- Operator administration (the admin API, operators enable|role, the
-- password rule).
--
-- token_epoch counts an operator's password changes and disablings; a token
-- carries the count it was issued at, and one carrying an older count is
-- refused, so a password change ends every token issued before it, to the
-- token. last_login_at is for the admin's list of operators.
ALTER TABLE operators ADD COLUMN token_epoch BIGINT NOT NULL DEFAULT 0;
ALTER TABLE operators ADD COLUMN last_login_at TIMESTAMPTZ;

-- The audit trail records administration as rows about no recommendation
-- (recommendation_id NULL), with every action of the contract plus
-- operator_edit (a change of an operator's name or e-mail, for which the
-- contract names no action).
ALTER TABLE operator_audit_log DROP CONSTRAINT operator_audit_log_action_check;
ALTER TABLE operator_audit_log ADD CONSTRAINT operator_audit_log_action_check CHECK (action IN ('approve', 'reject', 'modify', 'flag', 'resolve_flag', 'retry_delivery', 'undo', 'note_add', 'note_edit', 'note_delete', 'tag_add', 'tag_remove', 'tag_vocabulary', 'operator_add', 'operator_disable', 'operator_enable', 'operator_role', 'operator_passwd', 'operator_edit'));
ALTER TABLE operator_audit_log ALTER COLUMN recommendation_id DROP NOT NULL;

-- +goose Down
ALTER TABLE operators DROP COLUMN last_login_at;
ALTER TABLE operators DROP COLUMN token_epoch;
