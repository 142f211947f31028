package store

import (
	"context"
	"slices"
)

// MaxIngestBatch is the most items one ingest call accepts.
const MaxIngestBatch = 1000

// inChunk is how many values one IN (...) list binds.
const inChunk = 900

// pairsIn runs query, which ends in "IN ", for ids in lists of inChunk,
// and collects its two string columns.
func (tx *Tx) pairsIn(ctx context.Context, query string, ids []string) (map[string]string, error) {
	m := make(map[string]string)
	for chunk := range slices.Chunk(ids, inChunk) {
		in, args := inList(chunk)
		rows, err := tx.Query(ctx, query+in, args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return nil, err
			}
			m[k] = v
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return m, nil
}
