package transforms

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/failpoint"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/store"
)

// Datastore says where in Cloud Datastore the model lives. The client
// honours DATASTORE_EMULATOR_HOST, and credentials come from the
// environment (Application Default Credentials on a worker).
type Datastore struct {
	Project   string `json:"project"`
	Namespace string `json:"namespace,omitempty"`
	// Promote makes the version current once all of it is written. Without
	// it the version stays staged: written, complete, and not read by the
	// webapp until someone promotes it.
	Promote bool `json:"promote"`
}

// String names the place, for logs and messages.
func (d Datastore) String() string {
	if d.Namespace == "" {
		return "datastore:" + d.Project
	}
	return "datastore:" + d.Project + "/" + d.Namespace
}

// writeDatastore writes a version to Datastore in the order that keeps the
// webapp's view whole: the components it lacks (existing ones are never
// changed), the thetas, the version entity as staged, and only then, in one
// transaction, the switch of the current version.
func writeDatastore(ctx context.Context, ds Datastore, v model.Version) error {
	st, err := store.Open(ctx, ds.Project, ds.Namespace)
	if err != nil {
		return err
	}
	defer st.Close()
	id := v.Summary.Version

	// The thetas were trained with this table: a vector that differs from
	// the one Datastore already holds for a key would make the webapp
	// predict with other features than the thetas were fitted to.
	existing, err := st.Components(ctx)
	if err != nil {
		return fmt.Errorf("reading components: %v", err)
	}
	stored := make(map[features.ComponentKey][]float64, len(existing))
	for _, c := range existing {
		stored[c.ComponentKey] = c.Vector
	}
	for _, c := range v.Components {
		if old, ok := stored[c.ComponentKey]; ok && !slices.Equal(old, c.Vector) {
			return fmt.Errorf("component %s differs from the one in %s, which is never changed: train with --components=datastore", c.ComponentKey, ds)
		}
	}
	added, err := st.PutNewComponents(ctx, v.Components)
	if err != nil {
		return fmt.Errorf("writing components: %v", err)
	}
	failpoint.Hit("datastore/components")
	if err := st.PutThetas(ctx, id, v.Thetas); err != nil {
		return fmt.Errorf("writing thetas: %v", err)
	}
	failpoint.Hit("datastore/thetas")
	if err := st.PutVersion(ctx, v.Summary, store.StatusStaged); err != nil {
		return fmt.Errorf("writing the version: %v", err)
	}
	failpoint.Hit("datastore/staged")
	log.Infof(ctx, "%s: staged version %s: %d exercises, %d components (%d added)", ds, id, len(v.Thetas), len(v.Components), added)
	if !ds.Promote {
		return nil
	}
	st.By = "kmtrain run " + id
	g := v.Summary.Gate
	if g != nil && !g.Passed && !g.Forced {
		if err := st.Reject(ctx, id, g.Reason); err != nil {
			return fmt.Errorf("rejecting: %v", err)
		}
		log.Warnf(ctx, "%s: version %s rejected, %s stays current: %s", ds, id, g.CurrentVersion, g.Reason)
		return nil
	}
	// The gate compared the version with g.CurrentVersion: promote it only
	// if that one is still current. Without a gate (nothing was held out)
	// nothing was compared, and a forced version is promoted whatever the
	// comparison (it may have been of none, or of several versions): both
	// replace whatever is current.
	var opts store.PromoteOptions
	switch {
	case g == nil:
		opts = store.PromoteOptions{AnyCurrent: true, Why: "no held-out evaluation: promoted without a gate"}
	case !g.Passed:
		opts = store.PromoteOptions{AnyCurrent: true, Why: "gate failed, forced: " + g.Reason}
	default:
		opts = store.PromoteOptions{Expect: g.CurrentVersion, Why: "gate passed: " + g.Reason}
	}
	previous, err := st.PromoteWith(ctx, id, opts)
	failpoint.Hit("datastore/promoted")
	if errors.Is(err, store.ErrCurrentChanged) {
		// Another run or an operator switched versions after the gate read
		// the current one. The version stays staged, its history says why,
		// and an operator can gate and promote it with kmmodel. The run did
		// its work: failing it would only make the runner retry the write.
		log.Warnf(ctx, "%s: %v; it stays staged (kmmodel promote %s gates it against the current version)", ds, err, id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("promoting: %v", err)
	}
	log.Infof(ctx, "%s: version %s is current (was %q)", ds, id, previous)
	return nil
}
