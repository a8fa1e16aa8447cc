package transforms

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/store"
)

// ComponentsSource says where the existing components table to reuse is: a
// JSONL file (optionally gzipped), the Datastore a model lives in, or
// neither, in which case every component is derived from its key.
//
// The replay and the training load the table themselves, once per DoFn
// instance, instead of taking it as a side input: on prism a stage with a
// side input keeps the runner's scheduler polling for as long as one of its
// bundles runs, which costs a core of the two the long stages could use.
type ComponentsSource struct {
	Path      string     `json:"path,omitempty"`
	Datastore *Datastore `json:"datastore,omitempty"`
}

// Load reads the table and checks it: one unit-length vector per key.
func (c ComponentsSource) Load(ctx context.Context) ([]features.Component, error) {
	switch {
	case c.Datastore != nil:
		st, err := store.Open(ctx, c.Datastore.Project, c.Datastore.Namespace)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", c.Datastore, err)
		}
		defer st.Close()
		comps, err := st.Components(ctx)
		if err != nil {
			return nil, fmt.Errorf("%s: reading components: %v", c.Datastore, err)
		}
		if _, err := features.NewComponents(comps); err != nil {
			return nil, fmt.Errorf("%s: components: %v", c.Datastore, err)
		}
		return comps, nil
	case c.Path != "":
		rc, err := openFile(ctx, c.Path)
		if err != nil {
			return nil, fmt.Errorf("components %s: %v", c.Path, err)
		}
		defer rc.Close()
		comps, err := features.ReadComponentsJSONL(rc)
		if err != nil {
			return nil, fmt.Errorf("components %s: %v", c.Path, err)
		}
		if _, err := features.NewComponents(comps); err != nil {
			return nil, fmt.Errorf("components %s: %v", c.Path, err)
		}
		return comps, nil
	}
	return nil, nil
}

// String names the source, for logs.
func (c ComponentsSource) String() string {
	switch {
	case c.Datastore != nil:
		return c.Datastore.String()
	case c.Path != "":
		return c.Path
	}
	return "none"
}

// ReadComponents reads the existing components table as a PCollection of
// features.Component, for the sink to write out whole; an empty source gives
// an empty table.
func ReadComponents(s beam.Scope, src ComponentsSource) beam.PCollection {
	s = s.Scope("ReadComponents")
	if src.Path == "" && src.Datastore == nil {
		return beam.CreateList(s, []features.Component{})
	}
	return beam.ParDo(s, &readComponentsFn{Source: src}, beam.Impulse(s))
}

type readComponentsFn struct {
	Source ComponentsSource
}

func (fn *readComponentsFn) ProcessElement(ctx context.Context, _ []byte, emit func(features.Component)) error {
	comps, err := fn.Source.Load(ctx)
	if err != nil {
		return err
	}
	log.Infof(ctx, "%s: %d components to reuse", fn.Source, len(comps))
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
