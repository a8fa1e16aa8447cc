package transforms

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kmtrain/knowledgemodel/features"
)

// ReadComponents reads an existing components table (JSONL, optionally
// gzipped) to reuse. An empty path gives an empty table.
func ReadComponents(s beam.Scope, path string) beam.PCollection {
	s = s.Scope("ReadComponents")
	if path == "" {
		return beam.CreateList(s, []features.Component{})
	}
	return beam.ParDo(s, &readComponentsFn{Path: path}, beam.Impulse(s))
}

type readComponentsFn struct {
	Path string
}

func (fn *readComponentsFn) ProcessElement(ctx context.Context, _ []byte, emit func(features.Component)) error {
	rc, err := openFile(ctx, fn.Path)
	if err != nil {
		return fmt.Errorf("components %s: %v", fn.Path, err)
	}
	defer rc.Close()
	comps, err := features.ReadComponentsJSONL(rc)
	if err != nil {
		return fmt.Errorf("components %s: %v", fn.Path, err)
	}
	if _, err := features.NewComponents(comps); err != nil {
		return fmt.Errorf("components %s: %v", fn.Path, err)
	}
	for _, c := range comps {
		emit(c)
	}
	return nil
}

// componentsTable builds the table a DoFn looks components up in from the
// components side input.
func componentsTable(iter func(*features.Component) bool) (*features.Components, error) {
	var table []features.Component
	var c features.Component
	for iter(&c) {
		table = append(table, c)
	}
	return features.NewComponents(table)
}
