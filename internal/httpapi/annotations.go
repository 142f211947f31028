package httpapi

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/review"
	"github.com/spendsense/operator-api/internal/store"
)

// Notes and tags: what operators write beside a recommendation without
// changing it. Each change is its own transaction with its audit row.

type recIDInput struct {
	ID string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -" doc:"Recommendation id."`
}

type notesOutput struct {
	Body []*Note
}

// Note is the wire shape of a store.Note.
type Note struct {
	NoteID           string     `json:"note_id"`
	RecommendationID string     `json:"recommendation_id"`
	OperatorID       string     `json:"operator_id"`
	NoteText         string     `json:"note_text"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        *time.Time `json:"updated_at" nullable:"true"`
}

type noteTextBody struct {
	NoteText string `json:"note_text" minLength:"1" maxLength:"5000" doc:"The note; it must contain a visible character."`
}

type addNoteInput struct {
	ID             string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -" doc:"Recommendation id."`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
	Body           noteTextBody
}

type noteInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
	NoteID         string `path:"note_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -" doc:"Note id."`
}

type editNoteInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
	NoteID         string `path:"note_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -" doc:"Note id."`
	Body           noteTextBody
}

type noteOutput struct {
	Body *Note
}

type deleteNoteOutput struct {
	Body struct {
		Deleted bool   `json:"deleted" enum:"true"`
		NoteID  string `json:"note_id"`
	}
}

type vocabularyOutput struct {
	Body struct {
		Tags         []string          `json:"tags" doc:"Names that may be put on a recommendation." example:"[\"needs_review\",\"edge_case\"]"`
		DisplayNames map[string]string `json:"display_names" doc:"A label for each name." example:"{\"needs_review\":\"Needs Review\"}"`
	}
}

// Tag is the wire shape of one tag on a recommendation.
type Tag struct {
	TagID            string    `json:"tag_id"`
	RecommendationID string    `json:"recommendation_id"`
	TagName          string    `json:"tag_name"`
	TaggedBy         string    `json:"tagged_by"`
	TaggedAt         time.Time `json:"tagged_at"`
}

type tagsOutput struct {
	Body []Tag
}

type addTagInput struct {
	ID             string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -" doc:"Recommendation id."`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
	Body           struct {
		TagName string `json:"tag_name" minLength:"1" maxLength:"64" doc:"A name from GET /api/operator/tags/available." example:"needs_review"`
	}
}

type tagOutput struct {
	Body *Tag
}

type tagIDInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
	TagID          string `path:"tag_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -" doc:"Tag id (tag_id of GET …/tags)."`
}

type removeTagOutput struct {
	Body struct {
		Deleted bool   `json:"deleted" enum:"true"`
		TagID   string `json:"tag_id"`
	}
}

type addVocabularyInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
	Body           struct {
		TagName     string `json:"tag_name" pattern:"^[a-z0-9_]{1,64}$" patternDescription:"1 to 64 lower-case letters, digits or _" example:"needs_legal"`
		DisplayName string `json:"display_name" minLength:"1" maxLength:"100" example:"Needs Legal"`
	}
}

type vocabularyEntryOutput struct {
	Body struct {
		TagName     string `json:"tag_name"`
		DisplayName string `json:"display_name"`
	}
}

type retireVocabularyInput struct {
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Repeat a request safely: the same key and body return the first response without acting again."`
	TagName        string `path:"tag_name" pattern:"^[a-z0-9_]{1,64}$" patternDescription:"1 to 64 lower-case letters, digits or _"`
}

type retireVocabularyOutput struct {
	Body struct {
		Retired bool   `json:"retired" enum:"true"`
		TagName string `json:"tag_name"`
	}
}

// visibleText is the 422 for text a person will read later that has
// nothing visible in it.
func visibleText(location, name, v string) error {
	if strings.TrimSpace(v) == "" {
		return invalid(location, name+" must contain a visible character", v)
	}
	return nil
}

func (a *API) registerAnnotations(api huma.API) {
	notes, tags := []string{"Notes"}, []string{"Tags"}
	a.registerListNotes(api, notes)
	a.registerAddNote(api, notes)
	a.registerEditNote(api, notes)
	a.registerDeleteNote(api, notes)
	a.registerTagVocabulary(api, tags)
	a.registerListTags(api, tags)
	a.registerAddTag(api, tags)
	a.registerRemoveTag(api, tags)
	a.registerAddVocabulary(api, tags)
	a.registerRetireVocabulary(api, tags)
}

func (a *API) registerListNotes(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "list-notes", Method: http.MethodGet, Path: recPath + "/{id}/notes", Tags: tags,
		Summary: "A recommendation's notes, oldest first", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *recIDInput) (*notesOutput, error) {
		n, err := a.store.ListNotes(ctx, in.ID)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &notesOutput{Body: convertAll(n, func(n *store.Note) *Note { return (*Note)(n) })}, nil
	})
}

func (a *API) registerAddNote(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "add-note", Method: http.MethodPost, Path: recPath + "/{id}/notes", Tags: tags,
		Summary: "Add a note to a recommendation", Description: "Audited as `note_add` with the text.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *addNoteInput) (*noteOutput, error) {
		if err := visibleText("body.note_text", "note_text", in.Body.NoteText); err != nil {
			return nil, err
		}
		recordInTx(ctx, http.StatusCreated, func(r ...any) any { return (*Note)(r[0].(*store.Note)) })
		n, err := a.store.AddNote(ctx, actorFrom(ctx), in.ID, in.Body.NoteText)
		a.count(review.ActionNoteAdd, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &noteOutput{Body: (*Note)(n)}, nil
	})
}

func (a *API) registerEditNote(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "edit-note", Method: http.MethodPatch, Path: opPath + "/notes/{note_id}", Tags: tags,
		Summary:     "Edit a note",
		Description: "Its author or an admin only. Audited as `note_edit` with the text before and after; the same text again changes nothing.",
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *editNoteInput) (*noteOutput, error) {
		if err := visibleText("body.note_text", "note_text", in.Body.NoteText); err != nil {
			return nil, err
		}
		recordInTx(ctx, http.StatusOK, func(r ...any) any { return (*Note)(r[0].(*store.Note)) })
		n, err := a.store.EditNote(ctx, actorFrom(ctx), in.NoteID, in.Body.NoteText)
		a.count(review.ActionNoteEdit, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &noteOutput{Body: (*Note)(n)}, nil
	})
}

func (a *API) registerDeleteNote(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "delete-note", Method: http.MethodDelete, Path: opPath + "/notes/{note_id}", Tags: tags,
		Summary:     "Delete a note",
		Description: "Its author or an admin only. The note leaves the thread; the `note_delete` audit row keeps its text.",
		Errors:      []int{http.StatusNotFound},
	}, func(ctx context.Context, in *noteInput) (*deleteNoteOutput, error) {
		out := &deleteNoteOutput{}
		out.Body.Deleted, out.Body.NoteID = true, in.NoteID
		recordInTx(ctx, http.StatusOK, func(...any) any { return out.Body })
		err := a.store.DeleteNote(ctx, actorFrom(ctx), in.NoteID)
		a.count(review.ActionNoteDelete, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return out, nil
	})
}

func (a *API) registerTagVocabulary(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "tag-vocabulary", Method: http.MethodGet, Path: opPath + "/tags/available", Tags: tags,
		Summary: "The tag vocabulary", Description: "The names operators may tag with (retired names are left out), with display labels.",
	}, func(ctx context.Context, _ *struct{}) (*vocabularyOutput, error) {
		v, err := a.store.TagVocabulary(ctx, false)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		out := &vocabularyOutput{}
		out.Body.Tags, out.Body.DisplayNames = make([]string, len(v)), make(map[string]string, len(v))
		for i, e := range v {
			out.Body.Tags[i], out.Body.DisplayNames[e.TagName] = e.TagName, e.DisplayName
		}
		return out, nil
	})
}

func (a *API) registerListTags(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "list-tags", Method: http.MethodGet, Path: recPath + "/{id}/tags", Tags: tags,
		Summary: "A recommendation's tags, oldest first", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *recIDInput) (*tagsOutput, error) {
		t, err := a.store.ListTags(ctx, in.ID)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &tagsOutput{Body: convertAll(t, func(t store.Tag) Tag { return Tag(t) })}, nil
	})
}

func (a *API) registerAddTag(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "add-tag", Method: http.MethodPost, Path: recPath + "/{id}/tags", Tags: tags,
		Summary:       "Tag a recommendation",
		Description:   "A name not in the vocabulary is `422`; a name already on the item is `409`. Audited as `tag_add`.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *addTagInput) (*tagOutput, error) {
		recordInTx(ctx, http.StatusCreated, func(r ...any) any { return (*Tag)(r[0].(*store.Tag)) })
		t, err := a.store.AddTag(ctx, actorFrom(ctx), in.ID, in.Body.TagName)
		a.count(review.ActionTagAdd, err)
		if review.ErrorCode(err) == review.EInvalid {
			return nil, invalid("body.tag_name", err.Error(), in.Body.TagName)
		}
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &tagOutput{Body: (*Tag)(t)}, nil
	})
}

func (a *API) registerRemoveTag(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "remove-tag", Method: http.MethodDelete, Path: opPath + "/tags/{tag_id}", Tags: tags,
		Summary:     "Remove a tag",
		Description: "Tags are shared labels: any reviewer may remove one. Audited as `tag_remove`.",
		Errors:      []int{http.StatusNotFound},
	}, func(ctx context.Context, in *tagIDInput) (*removeTagOutput, error) {
		out := &removeTagOutput{}
		out.Body.Deleted, out.Body.TagID = true, in.TagID
		recordInTx(ctx, http.StatusOK, func(...any) any { return out.Body })
		_, err := a.store.RemoveTag(ctx, actorFrom(ctx), in.TagID)
		a.count(review.ActionTagRemove, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return out, nil
	})
}

func (a *API) registerAddVocabulary(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "add-tag-vocabulary", Method: http.MethodPost, Path: opPath + "/tags/vocabulary", Tags: tags,
		Summary:       "Add a name to the tag vocabulary",
		Description:   "Adds a name (or brings a retired one back with a new label). Audited as `tag_vocabulary`.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *addVocabularyInput) (*vocabularyEntryOutput, error) {
		if err := visibleText("body.display_name", "display_name", in.Body.DisplayName); err != nil {
			return nil, err
		}
		respond := func(e *store.VocabularyEntry) *vocabularyEntryOutput {
			out := &vocabularyEntryOutput{}
			out.Body.TagName, out.Body.DisplayName = e.TagName, e.DisplayName
			return out
		}
		recordInTx(ctx, http.StatusCreated, func(r ...any) any { return respond(r[0].(*store.VocabularyEntry)).Body })
		e, err := a.store.AddVocabulary(ctx, actorFrom(ctx), in.Body.TagName, in.Body.DisplayName)
		a.count(review.ActionTagVocabulary, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return respond(e), nil
	})
}

func (a *API) registerRetireVocabulary(api huma.API, tags []string) {
	register(api, huma.Operation{
		OperationID: "retire-tag-vocabulary", Method: http.MethodDelete, Path: opPath + "/tags/vocabulary/{tag_name}", Tags: tags,
		Summary:     "Retire a name from the tag vocabulary",
		Description: "The name can no longer be put on a recommendation; tags already made with it stay. Audited as `tag_vocabulary`.",
		Errors:      []int{http.StatusNotFound},
	}, func(ctx context.Context, in *retireVocabularyInput) (*retireVocabularyOutput, error) {
		out := &retireVocabularyOutput{}
		out.Body.Retired, out.Body.TagName = true, in.TagName
		recordInTx(ctx, http.StatusOK, func(...any) any { return out.Body })
		err := a.store.RetireVocabulary(ctx, actorFrom(ctx), in.TagName)
		a.count(review.ActionTagVocabulary, err)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return out, nil
	})
}
