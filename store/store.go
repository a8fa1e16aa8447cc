// Package store keeps knowledge model versions in Cloud Datastore
// (Firestore in Datastore mode), where the webapp loads the current one.
//
// Entities, all in the Store's namespace:
//
//   - KnowledgeModelVersion, key name the version id: small whatever the
//     run: its status (staged, current, rejected), when it was written,
//     promoted and rejected, the run's headline counts, evaluation and gate
//     as properties, and which KnowledgeModelSummary pieces hold its
//     model.Summary.
//   - KnowledgeModelSummary, key name SummaryChunkKeyName,
//     "<version>/<digest>/<n>": piece n of the model.Summary's JSON (which
//     grows with the exercises, ~7 KB each, past what one entity may hold),
//     at most ~1 MB each; Version reads them back whole.
//   - ExerciseThetas, key name "<version>/<exercise>": one
//     model.ExerciseThetas, version and exercise indexed.
//   - RandomComponent, key name ComponentKeyName, e.g.
//     "addition_1/type-3/true" ("/" and "%" inside a field escaped): one
//     features.Component. Components are shared by all versions and never
//     change once written.
//   - KnowledgeModelCurrent, key name "current": the version served.
//
// # Writing a version
//
// A training run writes, in this order:
//
//  1. PutNewComponents: the components the run derived (keys already stored
//     are left alone: a version that reused them sees the same vectors);
//  2. PutThetas: the version's thetas;
//  3. PutVersion(summary, StatusStaged): the summary's pieces, then the
//     version entity;
//  4. PromoteWith: one transaction switches KnowledgeModelCurrent, if the
//     version the gate compared against is still current (a
//     compare-and-swap), and records the change in the versions' histories.
//
// Nothing a reader of the current version sees changes before step 4: steps
// 1-3 only add entities of a version nobody serves and components under keys
// not stored yet, whose vectors a served version lacking them derives
// anyway (features.DeriveComponent), unless the run took them from an
// external table. A run that fails midway leaves KnowledgeModelCurrent, and
// so LoadCurrent, as they were; running the same steps again rewrites the
// same entities (the keys are deterministic) and completes the version.
// Promote refuses a version whose stored thetas do not number its summary's
// exercises_trained.
//
// Every status change (PutVersion, PromoteWith, Rollback, Reject) is
// recorded in the version's history: the newest MaxHistory StatusChanges,
// with Store.By and why.
//
// Writes are committed in batches of at most MaxBatch mutations. Every
// commit and lookup is checked against the limits Cloud Datastore enforces
// (entity and value sizes, key names, mutations and bytes per request; see
// CheckCommit) before it is sent, since the emulator does not enforce most
// of them: a write over one fails with ErrLimit, naming the entity and the
// limit, in tests as it would in production. Every Datastore call is
// retried on Transient errors according to Store.Retry
// (exponential backoff with jitter, bounded attempts, ctx-aware).
package store

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/datastore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/failpoint"
	"github.com/kmtrain/knowledgemodel/model"
)

// MaxBatch is the most mutations a Store commits at once: Datastore's limit.
const MaxBatch = 500

// Errors a Store returns (wrapped; test with errors.Is).
var (
	// ErrNoCurrent: no version has been promoted.
	ErrNoCurrent = errors.New("no current knowledge model version")
	// ErrNotFound: the version does not exist.
	ErrNotFound = errors.New("no such knowledge model version")
	// ErrRejected: the version was rejected and cannot be promoted.
	ErrRejected = errors.New("knowledge model version is rejected")
	// ErrIsCurrent: the version is current and cannot be rejected or
	// re-staged; promote another first.
	ErrIsCurrent = errors.New("knowledge model version is current")
	// ErrIncomplete: the version's stored thetas do not match its summary.
	ErrIncomplete = errors.New("knowledge model version is incomplete")
	// ErrCurrentChanged: another version became current after the caller
	// compared with the one it expected (PromoteOptions.Expect).
	ErrCurrentChanged = errors.New("the current knowledge model version changed")
	// ErrNoPrevious: Rollback found no version the current one replaced.
	ErrNoPrevious = errors.New("no previous knowledge model version")
)

// Store reads and writes model versions in one Datastore namespace.
type Store struct {
	// Retry is the policy for transient errors; Open sets DefaultRetry.
	Retry RetryPolicy
	// By names who changes versions' statuses through the store, in their
	// histories (StatusChange.By); Open sets the program and $USER.
	By string

	client    *datastore.Client
	namespace string
}

// Open connects to Datastore in project ("" reads DATASTORE_PROJECT_ID) and
// uses namespace ("" for the default one). Like datastore.NewClient, it
// connects to the emulator at DATASTORE_EMULATOR_HOST when that is set;
// opts are passed on to the client.
func Open(ctx context.Context, project, namespace string, opts ...option.ClientOption) (*Store, error) {
	// Every request the client sends goes through checkLimits first (an
	// option.WithGRPCConn among opts would bypass it).
	opts = append([]option.ClientOption{option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(checkLimits))}, opts...)
	c, err := datastore.NewClient(ctx, project, opts...)
	if err != nil {
		return nil, fmt.Errorf("datastore: %w", err)
	}
	return &Store{Retry: DefaultRetry, By: defaultBy(), client: c, namespace: namespace}, nil
}

// Close closes the connection.
func (s *Store) Close() error { return s.client.Close() }

// Namespace returns the namespace the store uses.
func (s *Store) Namespace() string { return s.namespace }

func (s *Store) key(kind, name string) *datastore.Key {
	k := datastore.NameKey(kind, name, nil)
	k.Namespace = s.namespace
	return k
}

func (s *Store) query(kind string) *datastore.Query {
	return datastore.NewQuery(kind).Namespace(s.namespace)
}

// Components returns every stored component, sorted by key.
func (s *Store) Components(ctx context.Context) ([]features.Component, error) {
	var ents []componentEntity
	var keys []*datastore.Key
	err := s.Retry.do(ctx, "reading components", func(ctx context.Context) error {
		ents = nil
		var err error
		keys, err = s.client.GetAll(ctx, s.query(KindComponent), &ents)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]features.Component, len(ents))
	for i, e := range ents {
		c := features.Component(e)
		if k, err := ParseComponentKeyName(keys[i].Name); err != nil || k != c.ComponentKey {
			return nil, fmt.Errorf("component entity %q holds key %s", keys[i].Name, c.ComponentKey)
		}
		if err := c.Validate(); err != nil {
			return nil, err
		}
		out[i] = c
	}
	slices.SortFunc(out, func(a, b features.Component) int { return a.ComponentKey.Compare(b.ComponentKey) })
	return out, nil
}

// PutNewComponents stores the components whose keys are not stored yet and
// returns how many it added. A stored component is never changed, even if
// comps holds another vector for its key: that vector is ignored.
//
// Per batch of MaxBatch keys it looks the keys up, then commits insert
// mutations for the missing ones. An insert fails (AlreadyExists) rather
// than overwrite, so a concurrent run that stores the same key first wins
// and this call looks the batch up again and inserts what is still missing.
// added counts the components this call's commits inserted; a commit
// retried after an ambiguous failure (applied, but the reply lost) may
// leave them uncounted.
func (s *Store) PutNewComponents(ctx context.Context, comps []features.Component) (added int, err error) {
	byKey := make(map[features.ComponentKey]features.Component, len(comps))
	for _, c := range comps {
		if err := c.Validate(); err != nil {
			return 0, err
		}
		if c.Exercise == "" {
			return 0, fmt.Errorf("component %s has no exercise", c.ComponentKey)
		}
		if err := CheckKeyName(KindComponent, ComponentKeyName(c.ComponentKey)); err != nil {
			return 0, err
		}
		if old, ok := byKey[c.ComponentKey]; ok && !slices.Equal(old.Vector, c.Vector) {
			return 0, fmt.Errorf("component %s given twice with different vectors", c.ComponentKey)
		}
		byKey[c.ComponentKey] = c
	}
	uniq := make([]features.Component, 0, len(byKey))
	for _, c := range byKey {
		uniq = append(uniq, c)
	}
	slices.SortFunc(uniq, func(a, b features.Component) int { return a.ComponentKey.Compare(b.ComponentKey) })
	for start := 0; start < len(uniq); start += MaxBatch {
		batch := uniq[start:min(start+MaxBatch, len(uniq))]
		n, err := s.insertMissing(ctx, batch)
		added += n
		if err != nil {
			return added, err
		}
	}
	return added, nil
}

// insertMissing inserts the components of batch that are not stored.
func (s *Store) insertMissing(ctx context.Context, batch []features.Component) (int, error) {
	keys := make([]*datastore.Key, len(batch))
	for i, c := range batch {
		keys[i] = s.key(KindComponent, ComponentKeyName(c.ComponentKey))
	}
	for round := 1; ; round++ {
		missing, err := s.missing(ctx, keys)
		if err != nil {
			return 0, err
		}
		if len(missing) == 0 {
			return 0, nil
		}
		muts := make([]*datastore.Mutation, len(missing))
		for j, i := range missing {
			e := componentEntity(batch[i])
			muts[j] = datastore.NewInsert(keys[i], &e)
		}
		err = s.Retry.do(ctx, fmt.Sprintf("inserting %d components", len(muts)), func(ctx context.Context) error {
			_, err := s.client.Mutate(ctx, muts...)
			return err
		})
		if err == nil {
			return len(muts), nil
		}
		if status.Code(err) != codes.AlreadyExists || round >= max(s.Retry.MaxAttempts, 2) {
			return 0, err
		}
		// Another writer (or an attempt of ours whose reply was lost)
		// stored some of them: look again.
	}
}

// missing returns the indexes of the keys that have no entity.
func (s *Store) missing(ctx context.Context, keys []*datastore.Key) ([]int, error) {
	var missing []int
	err := s.Retry.do(ctx, fmt.Sprintf("looking up %d components", len(keys)), func(ctx context.Context) error {
		missing = missing[:0]
		dst := make([]componentEntity, len(keys))
		err := s.client.GetMulti(ctx, keys, dst)
		if err == nil {
			return nil
		}
		var me datastore.MultiError
		if !errors.As(err, &me) {
			return err
		}
		for i, e := range me {
			switch {
			case e == nil:
			case errors.Is(e, datastore.ErrNoSuchEntity):
				missing = append(missing, i)
			default:
				return fmt.Errorf("component %s: %w", keys[i].Name, e)
			}
		}
		return nil
	})
	return missing, err
}

// PutThetas stores a version's thetas, in batches of MaxBatch. Each must
// have finite thetas, as many as a feature set has (model.CheckThetas),
// name this version or none, and an exercise that fits in a key name
// (CheckKeyName): all are checked before anything is written.
// Rewriting them writes the same entities.
func (s *Store) PutThetas(ctx context.Context, version string, thetas []model.ExerciseThetas) error {
	if err := CheckVersionID(version); err != nil {
		return err
	}
	ents := make([]thetasEntity, len(thetas))
	seen := make(map[string]bool, len(thetas))
	for i, t := range thetas {
		if t.Version != "" && t.Version != version {
			return fmt.Errorf("thetas of %q belong to version %q, not %q", t.Exercise, t.Version, version)
		}
		if t.Exercise == "" {
			return fmt.Errorf("version %s: thetas without an exercise", version)
		}
		if seen[t.Exercise] {
			return fmt.Errorf("version %s: exercise %q has thetas twice", version, t.Exercise)
		}
		seen[t.Exercise] = true
		if err := CheckKeyName(KindThetas, ThetasKeyName(version, t.Exercise)); err != nil {
			return fmt.Errorf("version %s: exercise %s: %w", version, short(t.Exercise), err)
		}
		if err := model.CheckThetas(t.Thetas); err != nil {
			return fmt.Errorf("version %s: exercise %q: %v", version, t.Exercise, err)
		}
		t.Version = version
		ents[i] = thetasEntity(t)
	}
	slices.SortFunc(ents, func(a, b thetasEntity) int { return cmp.Compare(a.Exercise, b.Exercise) })
	for start := 0; start < len(ents); start += MaxBatch {
		batch := ents[start:min(start+MaxBatch, len(ents))]
		keys := make([]*datastore.Key, len(batch))
		ptrs := make([]*thetasEntity, len(batch))
		for i := range batch {
			keys[i] = s.key(KindThetas, ThetasKeyName(version, batch[i].Exercise))
			ptrs[i] = &batch[i]
		}
		what := fmt.Sprintf("version %s: writing thetas %d-%d of %d", version, start+1, start+len(batch), len(ents))
		if err := s.Retry.do(ctx, what, func(ctx context.Context) error {
			_, err := s.client.PutMulti(ctx, keys, ptrs)
			return err
		}); err != nil {
			return err
		}
		failpoint.Hit("store/thetas-batch")
	}
	return nil
}

// Thetas returns a version's stored thetas, sorted by exercise.
func (s *Store) Thetas(ctx context.Context, version string) ([]model.ExerciseThetas, error) {
	if err := CheckVersionID(version); err != nil {
		return nil, err
	}
	var ents []thetasEntity
	err := s.Retry.do(ctx, "version "+version+": reading thetas", func(ctx context.Context) error {
		ents = nil
		_, err := s.client.GetAll(ctx, s.query(KindThetas).FilterField("version", "=", version), &ents)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]model.ExerciseThetas, len(ents))
	for i, e := range ents {
		out[i] = model.ExerciseThetas(e)
	}
	model.SortThetas(out)
	return out, nil
}

// countThetas returns the number of a version's stored thetas.
func (s *Store) countThetas(ctx context.Context, version string) (int, error) {
	var n int
	err := s.Retry.do(ctx, "version "+version+": counting thetas", func(ctx context.Context) error {
		keys, err := s.client.GetAll(ctx, s.query(KindThetas).FilterField("version", "=", version).KeysOnly(), nil)
		n = len(keys)
		return err
	})
	return n, err
}

// PutVersion stores the KnowledgeModelVersion of a run's summary with
// status StatusStaged or StatusRejected. Rewriting a version keeps when it
// was first written, and keeps a current version current (its summary is
// updated): only Promote changes what is served.
//
// The summary's JSON is written first, in KindSummary pieces keyed by its
// digest; then, in one transaction, the version entity that names them;
// then the pieces of the summary it named before, if another, are removed.
func (s *Store) PutVersion(ctx context.Context, sum model.Summary, status string) error {
	if err := CheckVersionID(sum.Version); err != nil {
		return err
	}
	if status != StatusStaged && status != StatusRejected {
		return fmt.Errorf("version %s: PutVersion status %q: want %q or %q (Promote makes a version current)",
			sum.Version, status, StatusStaged, StatusRejected)
	}
	j, err := json.Marshal(sum)
	if err != nil {
		return fmt.Errorf("version %s: %v", sum.Version, err)
	}
	base := newVersionEntity(sum, j)
	if err := s.putSummary(ctx, sum.Version, j); err != nil {
		return err
	}
	key := s.key(KindVersion, sum.Version)
	var replaced versionEntity // what the committed transaction replaced
	err = s.transaction(ctx, "version "+sum.Version+": writing", func(tx *datastore.Transaction) error {
		now := time.Now()
		e := *base
		var old versionEntity
		switch err := tx.Get(key, &old); {
		case errors.Is(err, datastore.ErrNoSuchEntity):
			e.Written, e.Status = now, status
		case err != nil:
			return err
		default:
			e.Written, e.Promoted, e.Rejected, e.Reason = old.Written, old.Promoted, old.Rejected, old.Reason
			e.History = old.History
			switch {
			case old.Status == StatusCurrent && status == StatusRejected:
				return fmt.Errorf("version %s: %w: cannot store it as rejected", sum.Version, ErrIsCurrent)
			case old.Status == StatusCurrent:
				e.Status = StatusCurrent
			case status == StatusRejected && old.Status != StatusRejected:
				e.Status, e.Rejected = status, now
			default:
				e.Status = status
			}
			if e.Status != StatusRejected {
				e.Reason, e.Rejected = "", time.Time{}
			}
		}
		if e.Status != old.Status {
			if err := e.record(StatusChange{Time: now, From: old.Status, To: e.Status, By: s.By, Why: "written"}); err != nil {
				return err
			}
		}
		replaced = old
		_, err := tx.Put(key, &e)
		return err
	})
	if err != nil {
		return err
	}
	if replaced.SummaryChunks > 0 && replaced.SummarySHA256 != base.SummarySHA256 && len(replaced.SummarySHA256) == sha256.Size*2 &&
		summaryPiecesFit(replaced.SummaryChunks, replaced.SummaryBytes) { // a corrupt entity's pieces are not known
		return s.deleteSummary(ctx, sum.Version, replaced.SummarySHA256, int(replaced.SummaryChunks))
	}
	return nil
}

// transaction runs f in a transaction, retried per s.Retry on transient
// errors (the client retries contention itself, a few times, first).
func (s *Store) transaction(ctx context.Context, what string, f func(tx *datastore.Transaction) error) error {
	return s.Retry.do(ctx, what, func(ctx context.Context) error {
		_, err := s.client.RunInTransaction(ctx, f)
		return err
	})
}

// Version returns a stored version, or an error wrapping ErrNotFound.
func (s *Store) Version(ctx context.Context, id string) (VersionInfo, error) {
	if err := CheckVersionID(id); err != nil {
		return VersionInfo{}, err
	}
	var e versionEntity
	err := s.Retry.do(ctx, "version "+id+": reading", func(ctx context.Context) error {
		return s.client.Get(ctx, s.key(KindVersion, id), &e)
	})
	if errors.Is(err, datastore.ErrNoSuchEntity) {
		return VersionInfo{}, fmt.Errorf("version %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return VersionInfo{}, err
	}
	return s.versionInfo(ctx, &e)
}

// Versions returns every stored version, oldest (by id) first.
func (s *Store) Versions(ctx context.Context) ([]VersionInfo, error) {
	var ents []versionEntity
	err := s.Retry.do(ctx, "reading versions", func(ctx context.Context) error {
		ents = nil
		_, err := s.client.GetAll(ctx, s.query(KindVersion), &ents)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]VersionInfo, len(ents))
	for i := range ents {
		if out[i], err = s.versionInfo(ctx, &ents[i]); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(out, func(a, b VersionInfo) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Current returns the id of the version served, or "" and an error
// wrapping ErrNoCurrent when none has been promoted.
func (s *Store) Current(ctx context.Context) (string, error) {
	var c currentEntity
	err := s.Retry.do(ctx, "reading the current version", func(ctx context.Context) error {
		return s.client.Get(ctx, s.key(KindCurrent, CurrentKeyName), &c)
	})
	if errors.Is(err, datastore.ErrNoSuchEntity) || (err == nil && c.Version == "") {
		return "", ErrNoCurrent
	}
	if err != nil {
		return "", err
	}
	return c.Version, nil
}

// PromoteOptions says when Promote may switch to a version, and why.
type PromoteOptions struct {
	// Expect is the version that must still be current when the switch
	// commits: the one a gate compared the version with ("" when nothing
	// was current, and nothing may be). Whatever is current otherwise is
	// ErrCurrentChanged: the version was never compared with it.
	Expect string
	// Compared says, for a refusal, how the caller came to expect Expect:
	// "... changed from A to B after " + Compared + " A". Empty: "the gate
	// compared against".
	Compared string
	// AnyCurrent replaces whatever is current: for a caller whose decision
	// did not depend on it. Expect is ignored.
	AnyCurrent bool
	// AllowRejected promotes a rejected version too (an operator
	// overriding a gate); otherwise it is ErrRejected.
	AllowRejected bool
	// Why is recorded in the histories of the version and of the one it
	// replaces.
	Why string
}

// Promote makes version the one served, whatever is current: PromoteWith
// with AnyCurrent. A caller that compared version with the current one
// must use PromoteWith and Expect instead.
func (s *Store) Promote(ctx context.Context, version string) (previous string, err error) {
	return s.PromoteWith(ctx, version, PromoteOptions{AnyCurrent: true})
}

// PromoteWith makes version the one served, in one transaction that reads
// KnowledgeModelCurrent, checks it against o.Expect and writes: version
// must exist with status staged (or rejected, with o.AllowRejected; or be
// current already: then nothing changes); it becomes current, the version
// current before goes back to staged, and KnowledgeModelCurrent names
// version and, as previous, the one it replaced. Both versions' histories
// record the change, with s.By and o.Why. previous is the version current
// before the call ("" if none; version itself when it already was, or when
// a commit whose reply was lost had already switched it and was retried).
//
// When another version than o.Expect is current, nothing is switched: the
// same transaction records the refusal in version's history (its status
// stays) and PromoteWith returns an error wrapping ErrCurrentChanged that
// says "current changed from A to B after the gate compared against A".
// Of two callers that compared with the same current version and promote
// at once, one switches and the other is refused.
//
// Before the transaction PromoteWith counts the version's stored thetas:
// fewer or more than its summary's exercises_trained (or none) is
// ErrIncomplete. Unknown versions are ErrNotFound, rejected ones
// ErrRejected.
func (s *Store) PromoteWith(ctx context.Context, version string, o PromoteOptions) (previous string, err error) {
	info, err := s.Version(ctx, version)
	if err != nil {
		return "", err
	}
	if info.Status == StatusRejected && !o.AllowRejected {
		return "", fmt.Errorf("version %s: %w (%s)", version, ErrRejected, info.Reason)
	}
	n, err := s.countThetas(ctx, version)
	if err != nil {
		return "", err
	}
	if n == 0 || n != info.Summary.ExercisesTrained {
		return "", fmt.Errorf("version %s: %w: %d exercises' thetas stored, the summary says %d trained",
			version, ErrIncomplete, n, info.Summary.ExercisesTrained)
	}
	curKey, verKey := s.key(KindCurrent, CurrentKeyName), s.key(KindVersion, version)
	var refused error // set by the attempt that committed a refusal
	err = s.transaction(ctx, "version "+version+": promoting", func(tx *datastore.Transaction) error {
		refused = nil
		now := time.Now()
		var cur currentEntity
		if err := tx.Get(curKey, &cur); err != nil && !errors.Is(err, datastore.ErrNoSuchEntity) {
			return err
		}
		previous = cur.Version
		var v versionEntity
		switch err := tx.Get(verKey, &v); {
		case errors.Is(err, datastore.ErrNoSuchEntity):
			return fmt.Errorf("version %s: %w", version, ErrNotFound)
		case err != nil:
			return err
		case v.Status == StatusCurrent && cur.Version == version:
			return nil // already current
		case v.Status == StatusRejected && !o.AllowRejected:
			return fmt.Errorf("version %s: %w (%s)", version, ErrRejected, v.Reason)
		}
		if !o.AnyCurrent && cur.Version != o.Expect {
			compared := cmp.Or(o.Compared, "the gate compared against")
			refused = fmt.Errorf("version %s: not promoted: %w from %s to %s after %s %s",
				version, ErrCurrentChanged, orNone(o.Expect), orNone(cur.Version), compared, orNone(o.Expect))
			if err := v.record(StatusChange{Time: now, From: v.Status, To: v.Status, By: s.By,
				Why: strings.TrimPrefix(refused.Error(), "version "+version+": ")}); err != nil {
				return err
			}
			_, err := tx.Put(verKey, &v)
			return err
		}
		why := o.Why
		if previous != "" && previous != version {
			prevKey := s.key(KindVersion, previous)
			var p versionEntity
			switch err := tx.Get(prevKey, &p); {
			case err == nil:
				if p.Status == StatusCurrent {
					p.Status = StatusStaged
					if err := p.record(StatusChange{Time: now, From: StatusCurrent, To: StatusStaged, By: s.By,
						Why: "replaced by " + version}); err != nil {
						return err
					}
					if _, err := tx.Put(prevKey, &p); err != nil {
						return err
					}
				}
			case !errors.Is(err, datastore.ErrNoSuchEntity):
				return err
			}
			why = joinWhy("replaces "+previous, why)
		}
		if err := v.record(StatusChange{Time: now, From: v.Status, To: StatusCurrent, By: s.By, Why: why}); err != nil {
			return err
		}
		if v.Status == StatusRejected {
			v.Reason, v.Rejected = "", time.Time{}
		}
		v.Status, v.Promoted = StatusCurrent, now
		if _, err := tx.Put(verKey, &v); err != nil {
			return err
		}
		_, err := tx.Put(curKey, &currentEntity{Version: version, Previous: previous, Switched: now})
		return err
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return "", err
	}
	return previous, nil
}

// orNone names a version, or says that there was none.
func orNone(version string) string {
	if version == "" {
		return "none"
	}
	return version
}

// joinWhy joins the parts of a reason that are not empty.
func joinWhy(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "; ")
}

// CurrentInfo is the KnowledgeModelCurrent entity: the version served,
// the one it replaced and when it was switched.
type CurrentInfo struct {
	Version  string
	Previous string // "" if it replaced none
	Switched time.Time
}

// CurrentRecord returns KnowledgeModelCurrent, or an error wrapping
// ErrNoCurrent when no version has been promoted.
func (s *Store) CurrentRecord(ctx context.Context) (CurrentInfo, error) {
	var c currentEntity
	err := s.Retry.do(ctx, "reading the current version", func(ctx context.Context) error {
		return s.client.Get(ctx, s.key(KindCurrent, CurrentKeyName), &c)
	})
	if errors.Is(err, datastore.ErrNoSuchEntity) || (err == nil && c.Version == "") {
		return CurrentInfo{}, ErrNoCurrent
	}
	if err != nil {
		return CurrentInfo{}, err
	}
	return CurrentInfo(c), nil
}

// Rollback makes the version the current one replaced (its previous)
// current again: PromoteWith, expecting the current version read first, so
// that a switch in between is ErrCurrentChanged rather than undone blindly.
// There is no gate: it returns to a version that was served before. Rolling
// back twice returns to where it started (the rolled-back version is the
// new previous). A previous version rejected since is ErrRejected.
func (s *Store) Rollback(ctx context.Context, why string) (from, to string, err error) {
	cur, err := s.CurrentRecord(ctx)
	if err != nil {
		return "", "", err
	}
	if cur.Previous == "" {
		return cur.Version, "", fmt.Errorf("version %s: %w: it replaced none", cur.Version, ErrNoPrevious)
	}
	if _, err := s.PromoteWith(ctx, cur.Previous, PromoteOptions{Expect: cur.Version, Compared: "the rollback read",
		Why: joinWhy("rollback from "+cur.Version, why)}); err != nil {
		return cur.Version, cur.Previous, err
	}
	return cur.Version, cur.Previous, nil
}

// Reject marks a version rejected, with the reason, recorded in its
// history: Promote will refuse it. The current version cannot be rejected
// (ErrIsCurrent): promote another first. Rejecting a rejected version
// updates the reason.
func (s *Store) Reject(ctx context.Context, version, why string) error {
	if err := CheckVersionID(version); err != nil {
		return err
	}
	curKey, verKey := s.key(KindCurrent, CurrentKeyName), s.key(KindVersion, version)
	return s.transaction(ctx, "version "+version+": rejecting", func(tx *datastore.Transaction) error {
		var cur currentEntity
		if err := tx.Get(curKey, &cur); err != nil && !errors.Is(err, datastore.ErrNoSuchEntity) {
			return err
		}
		var v versionEntity
		switch err := tx.Get(verKey, &v); {
		case errors.Is(err, datastore.ErrNoSuchEntity):
			return fmt.Errorf("version %s: %w", version, ErrNotFound)
		case err != nil:
			return err
		}
		if v.Status == StatusCurrent || cur.Version == version {
			return fmt.Errorf("version %s: %w: promote another version before rejecting it", version, ErrIsCurrent)
		}
		now := time.Now()
		if err := v.record(StatusChange{Time: now, From: v.Status, To: StatusRejected, By: s.By, Why: why}); err != nil {
			return err
		}
		if v.Status != StatusRejected {
			v.Rejected = now
		}
		v.Status, v.Reason = StatusRejected, why
		_, err := tx.Put(verKey, &v)
		return err
	})
}

// CurrentRecords returns the records of the version served (Records).
func (s *Store) CurrentRecords(ctx context.Context) (model.Records, error) {
	id, err := s.Current(ctx)
	if err != nil {
		return model.Records{}, err
	}
	return s.Records(ctx, id)
}

// Records returns a version's model records, whatever its status: its
// thetas and every stored component. Thetas that do not number the
// version's exercises_trained are ErrIncomplete. predict.FromRecords makes
// a model of them.
func (s *Store) Records(ctx context.Context, version string) (model.Records, error) {
	info, err := s.Version(ctx, version)
	if err != nil {
		return model.Records{}, err
	}
	thetas, err := s.Thetas(ctx, version)
	if err != nil {
		return model.Records{}, err
	}
	if len(thetas) != info.Summary.ExercisesTrained {
		return model.Records{}, fmt.Errorf("version %s: %w: %d exercises' thetas stored, the summary says %d trained",
			version, ErrIncomplete, len(thetas), info.Summary.ExercisesTrained)
	}
	comps, err := s.Components(ctx)
	if err != nil {
		return model.Records{}, err
	}
	return model.Records{Version: version, ComponentKey: info.Summary.Settings.ComponentKey, Thetas: thetas, Components: comps,
		HeldOut: info.Summary.HeldOut()}, nil
}
