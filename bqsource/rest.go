package bqsource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"cloud.google.com/go/bigquery"
	"cloud.google.com/go/civil"
	"github.com/kmtrain/knowledgemodel/features"
	"google.golang.org/api/iterator"
)

// ReadREST reads the plan's table page by page through tabledata.list and
// calls fn for every row: with a log, or with a *problemlogs.RowError for a
// row that is not one. An error from fn stops the read and is returned as
// is. The table's schema (tables.get) must have the six columns.
func ReadREST(ctx context.Context, c Config, p Plan, fn func(features.ProblemLog, error) error) error {
	id, err := ParseTableID(p.Table)
	if err != nil {
		return fmt.Errorf("bqsource: plan: %w", err)
	}
	client, err := restClient(ctx, c)
	if err != nil {
		return err
	}
	defer client.Close()
	table := client.DatasetInProject(id.Project, id.Dataset).Table(id.Table)
	md, err := table.Metadata(ctx)
	if err != nil {
		return fmt.Errorf("bqsource: table %s: %w", p.Table, err)
	}
	idx, err := resolve(c.columns(), restColumns(md.Schema))
	if err != nil {
		return err
	}
	it := table.Read(ctx)
	it.Schema = md.Schema // so that the iterator does not get it again
	cv := newConverter(c.columns())
	var row []bigquery.Value
	var cells [numFields]cell
	for {
		err := it.Next(&row)
		if errors.Is(err, iterator.Done) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bqsource: reading %s: %w", p.Table, err)
		}
		for f, i := range idx {
			if err := valueCell(row[i], &cells[f]); err != nil {
				return fmt.Errorf("bqsource: reading %s: column %q: %w", p.Table, md.Schema[i].Name, err)
			}
		}
		if err := fn(cv.convert(&cells)); err != nil {
			return err
		}
	}
}

// valueCell stores a value of the REST client in a cell.
func valueCell(v bigquery.Value, c *cell) error {
	*c = cell{}
	switch v := v.(type) {
	case nil:
		c.null = true
	case string:
		c.kind, c.s = kString, v
	case int64:
		c.kind, c.i = kInt, v
	case float64:
		c.kind, c.f = kFloat, v
	case bool:
		c.kind, c.b = kBool, v
	case time.Time:
		c.kind, c.t = kTime, v.UTC()
	case civil.DateTime:
		c.kind, c.t = kTime, v.In(time.UTC)
	default:
		return fmt.Errorf("unexpected value of type %T", v)
	}
	return nil
}
