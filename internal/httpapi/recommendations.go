package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/danielgtaylor/huma/v2"

	"github.com/spendsense/operator-api/internal/store"
)

const (
	opPath  = "/api/operator"
	recPath = opPath + "/recommendations"
)

type listRecsInput struct {
	Status   string `query:"status" default:"pending" enum:"pending,approved,rejected,flagged,all" doc:"Review status; all for every status."`
	Persona  string `query:"persona" enum:"high_utilization,variable_income_budgeter,subscription_heavy,savings_builder,student,all" doc:"Primary persona; all or absent for any."`
	Priority string `query:"priority" enum:"high,medium,low,all" doc:"all or absent for any."`
	Type     string `query:"type" enum:"article,video,tool,quiz,partner_offer,all" doc:"all or absent for any."`
	UserID   string `query:"user_id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" doc:"One user's recommendations; all or absent for any."`
	Tag      string `query:"tag" pattern:"^[a-z0-9_]{1,64}$" patternDescription:"a tag name" doc:"Only recommendations carrying this tag (a name of the tag vocabulary, retired ones included)."`
	Limit    int    `query:"limit" default:"100" minimum:"1" maximum:"500"`
	Cursor   string `query:"cursor" maxLength:"512" doc:"X-Next-Cursor of the previous page."`
}

type listRecsOutput struct {
	Link       string `header:"Link" doc:"rel=\"next\" link when there are more rows."`
	NextCursor string `header:"X-Next-Cursor" doc:"Cursor of the next page when there are more rows."`
	Body       []Recommendation
}

type getRecInput struct {
	ID string `path:"id" maxLength:"128" pattern:"^[A-Za-z0-9_.:-]+$" patternDescription:"an id: 1 to 128 letters, digits, _ . : or -" doc:"Recommendation id."`
}

type getRecOutput struct {
	ETag string `header:"ETag" doc:"The recommendation's version; send it back in If-Match."`
	Body Recommendation
}

func noFilter(v string) string {
	if v == "all" {
		return ""
	}
	return v
}

func (a *API) registerRecommendations(api huma.API) {
	register(api, huma.Operation{
		OperationID: "list-recommendations", Method: http.MethodGet, Path: recPath, Tags: []string{"Recommendations"},
		Summary:     "List recommendations",
		Description: "Newest created_at first, id breaking ties. Pages with `cursor`; more rows are announced by `Link: <…>; rel=\"next\"` and `X-Next-Cursor`.",
		Errors:      []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *listRecsInput) (*listRecsOutput, error) {
		f := store.ListFilter{Status: noFilter(in.Status), Persona: noFilter(in.Persona), Priority: noFilter(in.Priority),
			Type: noFilter(in.Type), UserID: noFilter(in.UserID), Tag: in.Tag, Limit: in.Limit}
		if in.Tag != "" {
			// An unknown name is an error, never a silently empty list.
			if err := a.knownTag(ctx, in.Tag); err != nil {
				return nil, err
			}
		}
		if in.Cursor != "" {
			c, err := store.ParseCursor(in.Cursor)
			if err != nil {
				return nil, invalid("query.cursor", err.Error(), in.Cursor)
			}
			f.Cursor = c
		}
		recs, next, err := a.store.ListRecommendations(ctx, f)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		out := &listRecsOutput{Body: toWireList(recs)}
		if next != nil {
			out.NextCursor = next.Encode()
			q := url.Values{}
			for k, v := range map[string]string{"status": in.Status, "persona": in.Persona, "priority": in.Priority, "type": in.Type, "user_id": in.UserID, "tag": in.Tag} {
				if v != "" {
					q.Set(k, v)
				}
			}
			q.Set("limit", strconv.Itoa(in.Limit))
			q.Set("cursor", out.NextCursor)
			out.Link = "<" + recPath + "?" + q.Encode() + `>; rel="next"`
		}
		return out, nil
	})

	register(api, huma.Operation{
		OperationID: "get-recommendation", Method: http.MethodGet, Path: recPath + "/{id}", Tags: []string{"Recommendations"},
		Summary: "Get one recommendation", Errors: []int{http.StatusNotFound},
	}, func(ctx context.Context, in *getRecInput) (*getRecOutput, error) {
		rec, err := a.store.GetRecommendation(ctx, in.ID)
		if err != nil {
			return nil, a.problem(ctx, err)
		}
		return &getRecOutput{ETag: etag(rec.Version), Body: toWire(rec)}, nil
	})
}

func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// knownTag is a 422 unless name is in the tag vocabulary (retired or not).
func (a *API) knownTag(ctx context.Context, name string) error {
	v, err := a.store.TagVocabulary(ctx, true)
	if err != nil {
		return a.problem(ctx, err)
	}
	for _, e := range v {
		if e.TagName == name {
			return nil
		}
	}
	return invalid("query.tag", strconv.Quote(name)+" is not in the tag vocabulary (GET /api/operator/tags/available)", name)
}
