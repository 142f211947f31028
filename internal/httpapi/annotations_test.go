package httpapi_test

import (
	"strings"
	"testing"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
	"github.com/spendsense/operator-api/internal/testdb"
)

// auditOf returns the audit rows of one action on one recommendation.
func (e *env) auditOf(recID, action string) []map[string]any {
	e.t.Helper()
	path := "/api/operator/audit-logs?action=" + action
	if recID != "" {
		path += "&recommendation_id=" + recID
	}
	r := e.do("GET", path, e.as(review.RoleAdmin), nil).must(e.t, 200).JSON(e.t)
	var out []map[string]any
	for _, l := range r["logs"].([]any) {
		out = append(out, l.(map[string]any))
	}
	return out
}

func TestNotes(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.addOperator("op_other", review.RoleOperator)
		id := e.fixture(2, 0)[0]
		op, other, admin := e.as(review.RoleOperator), e.tokens["op_other"], e.as(review.RoleAdmin)
		notes := recPath(id) + "/notes"

		n := e.do("POST", notes, op, map[string]any{"note_text": "check the APR wording"}).must(t, 201).JSON(t)
		noteID, _ := n["note_id"].(string)
		if noteID == "" || n["recommendation_id"] != id || n["operator_id"] != "op_operator" || n["note_text"] != "check the APR wording" ||
			n["updated_at"] != nil || n["created_at"] == nil {
			t.Fatalf("note = %v", n)
		}
		e.do("POST", notes, other, map[string]any{"note_text": "second"}).must(t, 201)
		list := e.do("GET", notes, other, nil).must(t, 200).List(t)
		if len(list) != 2 || list[0]["note_id"] != noteID || list[1]["note_text"] != "second" {
			t.Fatalf("notes = %v", list)
		}
		if a := e.auditOf(id, "note_add"); len(a) != 2 || a[1]["metadata"].(map[string]any)["note_text"] != "check the APR wording" {
			t.Fatalf("note_add audit = %v", a)
		}

		// Only the author or an admin edits or deletes.
		r := e.do("PATCH", "/api/operator/notes/"+noteID, other, map[string]any{"note_text": "mine now"}).must(t, 403)
		if !strings.Contains(r.JSON(t)["detail"].(string), "author") {
			t.Errorf("403 detail = %s", r.Body)
		}
		e.do("DELETE", "/api/operator/notes/"+noteID, other, nil).must(t, 403)
		e.do("PATCH", "/api/operator/notes/"+noteID, e.as(review.RoleSenior), map[string]any{"note_text": "x"}).must(t, 403)

		before := e.auditCount(id)
		ed := e.do("PATCH", "/api/operator/notes/"+noteID, op, map[string]any{"note_text": "check the APR wording again"}).must(t, 200).JSON(t)
		if ed["note_text"] != "check the APR wording again" || ed["updated_at"] == nil {
			t.Fatalf("edited = %v", ed)
		}
		// The same text again changes nothing and writes nothing.
		e.do("PATCH", "/api/operator/notes/"+noteID, op, map[string]any{"note_text": "check the APR wording again"}).must(t, 200)
		if got := e.auditCount(id); got != before+1 {
			t.Fatalf("audit rows %d after one real edit, want %d", got, before+1)
		}
		e.do("PATCH", "/api/operator/notes/"+noteID, admin, map[string]any{"note_text": "admin's words"}).must(t, 200)
		edits := e.auditOf(id, "note_edit")
		if len(edits) != 2 {
			t.Fatalf("note_edit rows = %v", edits)
		}
		m := edits[1]["metadata"].(map[string]any) // oldest is last
		if m["before"] != "check the APR wording" || m["after"] != "check the APR wording again" || m["note_id"] != noteID {
			t.Fatalf("note_edit metadata = %v", m)
		}

		// Bad input: 422 whose detail names the field; nothing changes.
		before = e.auditCount(id)
		for _, body := range []any{map[string]any{"note_text": ""}, map[string]any{"note_text": " \n\t"},
			map[string]any{"note_text": strings.Repeat("x", 5001)}, map[string]any{}} {
			r := e.do("POST", notes, op, body).must(t, 422)
			if !strings.Contains(r.JSON(t)["detail"].(string), "note_text") {
				t.Errorf("%v: detail %s does not name note_text", body, r.Body)
			}
		}
		e.do("PATCH", "/api/operator/notes/"+noteID, op, map[string]any{"note_text": "  "}).must(t, 422)
		if got := e.auditCount(id); got != before {
			t.Fatalf("refused notes wrote %d audit rows", got-before)
		}
		e.do("POST", recPath("no_such_rec")+"/notes", op, map[string]any{"note_text": "x"}).must(t, 404)
		e.do("GET", recPath("no_such_rec")+"/notes", op, nil).must(t, 404)
		e.do("PATCH", "/api/operator/notes/no_such_note", op, map[string]any{"note_text": "x"}).must(t, 404)
		e.do("GET", notes, e.as(review.RoleIngest), nil).must(t, 403)

		// Delete: a JSON body; the note leaves the list, the audit keeps its text.
		d := e.do("DELETE", "/api/operator/notes/"+noteID, admin, nil).must(t, 200).JSON(t)
		if d["deleted"] != true || d["note_id"] != noteID {
			t.Fatalf("delete = %v", d)
		}
		if list := e.do("GET", notes, op, nil).must(t, 200).List(t); len(list) != 1 || list[0]["note_text"] != "second" {
			t.Fatalf("after delete: %v", list)
		}
		del := e.auditOf(id, "note_delete")
		if len(del) != 1 || del[0]["metadata"].(map[string]any)["note_text"] != "admin's words" || del[0]["operator_id"] != "op_admin" {
			t.Fatalf("note_delete audit = %v", del)
		}
		e.do("DELETE", "/api/operator/notes/"+noteID, admin, nil).must(t, 404)
		// Notes are no change to the recommendation: its version stays.
		if v := e.do("GET", recPath(id), op, nil).must(t, 200).JSON(t)["version"]; v != 1.0 {
			t.Errorf("version after notes = %v", v)
		}
		testdb.CheckInvariants(t, s)
	})
}

func TestTags(t *testing.T) {
	testdb.Each(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		ids := e.fixture(3, 0)
		op, admin := e.as(review.RoleOperator), e.as(review.RoleAdmin)

		v := e.do("GET", "/api/operator/tags/available", op, nil).must(t, 200).JSON(t)
		names := v["tags"].([]any)
		if len(names) != 8 || v["display_names"].(map[string]any)["needs_review"] != "Needs Review" {
			t.Fatalf("vocabulary = %v", v)
		}

		tg := e.do("POST", recPath(ids[0])+"/tags", op, map[string]any{"tag_name": "edge_case"}).must(t, 201).JSON(t)
		tagID, _ := tg["tag_id"].(string)
		if tagID == "" || tg["recommendation_id"] != ids[0] || tg["tag_name"] != "edge_case" || tg["tagged_by"] != "op_operator" || tg["tagged_at"] == nil {
			t.Fatalf("tag = %v", tg)
		}
		r := e.do("POST", recPath(ids[0])+"/tags", e.as(review.RoleSenior), map[string]any{"tag_name": "edge_case"}).must(t, 409)
		if !strings.Contains(r.JSON(t)["detail"].(string), "already tagged") {
			t.Errorf("409 detail = %s", r.Body)
		}
		r = e.do("POST", recPath(ids[0])+"/tags", op, map[string]any{"tag_name": "nonsense"}).must(t, 422)
		if !strings.Contains(r.JSON(t)["detail"].(string), "tag_name") {
			t.Errorf("422 detail = %s", r.Body)
		}
		e.do("POST", recPath(ids[1])+"/tags", op, map[string]any{"tag_name": "llm_error"}).must(t, 201)
		e.do("POST", recPath(ids[0])+"/tags", op, map[string]any{"tag_name": "great_example"}).must(t, 201)
		e.do("POST", recPath("no_such_rec")+"/tags", op, map[string]any{"tag_name": "edge_case"}).must(t, 404)

		list := e.do("GET", recPath(ids[0])+"/tags", op, nil).must(t, 200).List(t)
		if len(list) != 2 || list[0]["tag_id"] != tagID || list[1]["tag_name"] != "great_example" {
			t.Fatalf("tags = %v", list)
		}
		if got := e.do("GET", recPath(ids[2])+"/tags", op, nil).must(t, 200).List(t); len(got) != 0 {
			t.Fatalf("untagged = %v", got)
		}
		e.do("GET", recPath("no_such_rec")+"/tags", op, nil).must(t, 404)
		// The wire shape carries the names, on one item and in lists.
		if got := e.do("GET", recPath(ids[0]), op, nil).must(t, 200).JSON(t)["tags"]; len(got.([]any)) != 2 {
			t.Fatalf("recommendation tags = %v", got)
		}
		page := e.do("GET", "/api/operator/recommendations?tag=edge_case", op, nil).must(t, 200).List(t)
		if len(page) != 1 || page[0]["id"] != ids[0] || len(page[0]["tags"].([]any)) != 2 {
			t.Fatalf("tag=edge_case: %v", page)
		}
		if page := e.do("GET", "/api/operator/recommendations?tag=needs_review", op, nil).must(t, 200).List(t); len(page) != 0 {
			t.Fatalf("tag=needs_review: %v", page)
		}
		for _, item := range e.do("GET", "/api/operator/recommendations?status=all", op, nil).must(t, 200).List(t) {
			if _, ok := item["tags"].([]any); !ok {
				t.Fatalf("list item without a tags array: %v", item)
			}
		}
		r = e.do("GET", "/api/operator/recommendations?tag=nonsense", op, nil).must(t, 422)
		if !strings.Contains(r.JSON(t)["detail"].(string), "tag") {
			t.Errorf("422 detail = %s", r.Body)
		}

		d := e.do("DELETE", "/api/operator/tags/"+tagID, e.as(review.RoleSenior), nil).must(t, 200).JSON(t)
		if d["deleted"] != true || d["tag_id"] != tagID {
			t.Fatalf("delete = %v", d)
		}
		e.do("DELETE", "/api/operator/tags/"+tagID, op, nil).must(t, 404)
		if a := e.auditOf(ids[0], "tag_add"); len(a) != 2 {
			t.Fatalf("tag_add rows = %v", a)
		}
		rm := e.auditOf(ids[0], "tag_remove")
		if len(rm) != 1 || rm[0]["metadata"].(map[string]any)["tag_name"] != "edge_case" || rm[0]["operator_id"] != "op_senior_operator" {
			t.Fatalf("tag_remove rows = %v", rm)
		}

		// Admins manage the vocabulary; each change audited.
		e.do("POST", "/api/operator/tags/vocabulary", op, map[string]any{"tag_name": "needs_legal", "display_name": "Needs Legal"}).must(t, 403)
		e.do("POST", "/api/operator/tags/vocabulary", admin, map[string]any{"tag_name": "needs_legal", "display_name": "Needs Legal"}).must(t, 201)
		e.do("POST", "/api/operator/tags/vocabulary", admin, map[string]any{"tag_name": "needs_legal", "display_name": "Again"}).must(t, 409)
		e.do("POST", "/api/operator/tags/vocabulary", admin, map[string]any{"tag_name": "Bad Name", "display_name": "x"}).must(t, 422)
		e.do("POST", recPath(ids[2])+"/tags", op, map[string]any{"tag_name": "needs_legal"}).must(t, 201)
		e.do("DELETE", "/api/operator/tags/vocabulary/needs_legal", op, nil).must(t, 403)
		e.do("DELETE", "/api/operator/tags/vocabulary/needs_legal", admin, nil).must(t, 200)
		e.do("DELETE", "/api/operator/tags/vocabulary/needs_legal", admin, nil).must(t, 404)
		for _, n := range e.do("GET", "/api/operator/tags/available", op, nil).must(t, 200).JSON(t)["tags"].([]any) {
			if n == "needs_legal" {
				t.Fatal("a retired name is still offered")
			}
		}
		e.do("POST", recPath(ids[1])+"/tags", op, map[string]any{"tag_name": "needs_legal"}).must(t, 422)
		// Tags made before the name was retired stay, and can be filtered on.
		if page := e.do("GET", "/api/operator/recommendations?tag=needs_legal", op, nil).must(t, 200).List(t); len(page) != 1 {
			t.Fatalf("tag=needs_legal after retiring: %v", page)
		}
		voc := e.auditOf("", "tag_vocabulary")
		if len(voc) != 2 || voc[0]["recommendation_id"] != nil || voc[0]["metadata"].(map[string]any)["change"] != "retire" {
			t.Fatalf("tag_vocabulary rows = %v", voc)
		}
		if v := e.do("GET", recPath(ids[0]), op, nil).must(t, 200).JSON(t)["version"]; v != 1.0 {
			t.Errorf("version after tags = %v", v)
		}
		testdb.CheckInvariants(t, s)
	})
}

func recPath(id string) string { return "/api/operator/recommendations/" + id }
