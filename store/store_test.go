package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/datastore"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/dsemulator"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/predict"
	"github.com/kmtrain/knowledgemodel/store"
)

func TestMain(m *testing.M) { dsemulator.Main(m) }

// fastRetry keeps the tests quick: the same policy, waits of milliseconds.
var fastRetry = store.RetryPolicy{MaxAttempts: 4, InitialBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, Multiplier: 2}

// env is one test's emulator, emptied, and its project id.
type env struct {
	t       *testing.T
	project string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{t: t, project: dsemulator.Shared(t).Use(t)}
}

// open opens a store in namespace ns with the fast retry policy.
func (e *env) open(ns string, opts ...option.ClientOption) *store.Store {
	e.t.Helper()
	s, err := store.Open(context.Background(), e.project, ns, opts...)
	if err != nil {
		e.t.Fatal(err)
	}
	s.Retry = fastRetry
	e.t.Cleanup(func() { s.Close() })
	return s
}

const commitMethod = "/google.datastore.v1.Datastore/Commit"

// faults is a gRPC unary client interceptor that counts Commit calls and
// fails those fail says to, before they reach the emulator.
type faults struct {
	mu      sync.Mutex
	commits int // Commit calls seen, failed ones included
	failed  int
	before  func(n int) error // n: 1 for the first Commit
}

func (f *faults) option() option.ClientOption {
	return option.WithGRPCDialOption(grpc.WithUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if method == commitMethod {
				f.mu.Lock()
				f.commits++
				n := f.commits
				f.mu.Unlock()
				if err := f.before(n); err != nil {
					f.mu.Lock()
					f.failed++
					f.mu.Unlock()
					return err
				}
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
}

func (f *faults) counts() (commits, failed int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.commits, f.failed
}

func makeThetas(version string, n int, seed uint64) []model.ExerciseThetas {
	r := rand.New(rand.NewPCG(seed, 7))
	out := make([]model.ExerciseThetas, n)
	for i := range out {
		set := features.Khan2014
		if i%10 == 9 { // some of the extended feature set, with their difficulty tables
			set = features.Extended
		}
		th := make([]float64, set.Dim())
		for j := range th {
			th[j] = r.NormFloat64()
		}
		out[i] = model.ExerciseThetas{Version: version, Exercise: fmt.Sprintf("exercise_%04d", i), Thetas: th,
			Rows: 100 + i, RowsSeen: 200 + i, Iterations: i % 50, Evaluations: i % 60, Converged: i%3 != 0,
			Status: "GradientConverged", Loss: r.Float64(), TrainingSeconds: r.Float64() / 10}
		if set == features.Extended {
			out[i].ProblemTypeDifficulty = map[string]float64{"p1": r.NormFloat64(), "p/2": r.NormFloat64(), "": r.NormFloat64()}
			out[i].UnseenProblemTypeDifficulty = r.NormFloat64()
		}
	}
	return out
}

func makeSummary(version string, trained int) model.Summary {
	return model.Summary{
		Version: version, Created: time.Date(2014, 11, 5, 12, 0, 0, 123456789, time.UTC), Input: "gs://bucket/logs-*.csv",
		Settings:     model.Settings{ProblemNumbers: "1-5", DropGaps: true, MinRows: 100, MaxRows: 200000, L2: 0.001},
		InputCounts:  model.InputCounts{FilesRead: 3, LogsRead: 60146, BadRows: 2, BadRowReasons: map[string]int64{"time_done": 2}},
		StudentsKept: 951, StudentsDropped: 1, RowsEmitted: 27796, ComponentsNew: 179,
		ExercisesTrained: trained, ExercisesConverged: trained, ExercisesSkipped: 1,
		Skipped: []model.SkippedExercise{{Exercise: "rare", Rows: 3, Reason: model.SkipTooFewRows}}}
}

func makeComponents(n int, seed uint64) []features.Component {
	out := make([]features.Component, n)
	for i := range out {
		k := features.ComponentKey{Exercise: fmt.Sprintf("exercise_%04d", i/4), ProblemType: fmt.Sprintf("type_%d", i/2%2), Correct: i%2 == 1}
		out[i] = features.DeriveComponent(k)
		// Not the derived vector, so that the test sees which was stored.
		out[i].Vector[0] += float64(seed)
	}
	return out
}

// writeVersion runs the whole write sequence of a run and promotes it.
func writeVersion(t *testing.T, s *store.Store, version string, n int) []model.ExerciseThetas {
	t.Helper()
	ctx := context.Background()
	th := makeThetas(version, n, 1)
	if _, err := s.PutNewComponents(ctx, makeComponents(8, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.PutThetas(ctx, version, th); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVersion(ctx, makeSummary(version, n), store.StatusStaged); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Promote(ctx, version); err != nil {
		t.Fatal(err)
	}
	return th
}

func TestPutThetasBatches(t *testing.T) {
	e := newEnv(t)
	f := &faults{before: func(int) error { return nil }}
	s := e.open("", f.option())
	ctx := context.Background()
	want := makeThetas("v1", 1203, 1)
	if err := s.PutThetas(ctx, "v1", want); err != nil {
		t.Fatal(err)
	}
	if commits, _ := f.counts(); commits != 3 {
		t.Errorf("1203 thetas took %d commits, want 3 (at most %d mutations each)", commits, store.MaxBatch)
	}
	got, err := s.Thetas(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back %d thetas, not equal to the %d written", len(got), len(want))
	}
	// A version id the key names cannot hold, and thetas of another version.
	if err := s.PutThetas(ctx, "v/2", want[:1]); err == nil {
		t.Error("PutThetas accepted a version id with a /")
	}
	if err := s.PutThetas(ctx, "v2", want[:1]); err == nil {
		t.Error("PutThetas accepted thetas of another version")
	}
	bad := slices.Clone(want[:1])
	bad[0].Thetas = bad[0].Thetas[:5]
	if err := s.PutThetas(ctx, "v1", bad); err == nil {
		t.Error("PutThetas accepted 5 thetas")
	}
}

func TestTransientCommitRetried(t *testing.T) {
	e := newEnv(t)
	f := &faults{before: func(n int) error {
		if n == 1 {
			return status.Error(codes.Unavailable, "injected: connection reset")
		}
		return nil
	}}
	s := e.open("", f.option())
	ctx := context.Background()
	want := makeThetas("v1", 600, 2)
	if err := s.PutThetas(ctx, "v1", want); err != nil {
		t.Fatalf("PutThetas with one transient failure: %v", err)
	}
	if commits, failed := f.counts(); commits != 3 || failed != 1 {
		t.Errorf("%d commits, %d failed; want 3 (one failed and retried, then the second batch) and 1", commits, failed)
	}
	got, err := e.open("").Thetas(ctx, "v1")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("after the retry: %d thetas (%v), want the %d written", len(got), err, len(want))
	}
}

func TestPermanentFailureLeavesCurrent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	clean := e.open("")
	v1 := writeVersion(t, clean, "v1", 3)

	for _, c := range []struct {
		name     string
		err      error
		attempts int // attempts at the second commit
	}{
		{"transient", status.Error(codes.Unavailable, "injected: backend down"), fastRetry.MaxAttempts},
		{"permanent", status.Error(codes.PermissionDenied, "injected: no access"), 1},
	} {
		f := &faults{before: func(n int) error {
			if n >= 2 {
				return c.err
			}
			return nil
		}}
		s := e.open("", f.option())
		err := s.PutThetas(ctx, "v2", makeThetas("v2", 1203, 3))
		if status.Code(err) != status.Code(c.err) {
			t.Fatalf("%s: PutThetas failing from the 2nd commit on = %v, want code %v", c.name, err, status.Code(c.err))
		}
		t.Logf("%s: %v", c.name, err)
		if commits, failed := f.counts(); commits != 1+c.attempts || failed != c.attempts {
			t.Errorf("%s: %d commits, %d failed; want %d, %d", c.name, commits, failed, 1+c.attempts, c.attempts)
		}
	}
	// The half-written version changed nothing that is served.
	if cur, err := clean.Current(ctx); cur != "v1" || err != nil {
		t.Fatalf("Current after a failed write = %q, %v; want v1", cur, err)
	}
	m, err := loadCurrent(ctx, clean)
	if err != nil || m.Version != "v1" || len(m.Thetas) != len(v1) {
		t.Fatalf("LoadCurrent after a failed write = %v, %v", m, err)
	}
	// Nor can it be promoted: 500 of 1203 thetas are stored.
	if err := clean.PutVersion(ctx, makeSummary("v2", 1203), store.StatusStaged); err != nil {
		t.Fatal(err)
	}
	if _, err := clean.Promote(ctx, "v2"); !errors.Is(err, store.ErrIncomplete) {
		t.Fatalf("Promote(half-written v2) = %v, want ErrIncomplete", err)
	} else {
		t.Log(err)
	}
	if cur, _ := clean.Current(ctx); cur != "v1" {
		t.Fatalf("Current = %q, want v1", cur)
	}
}

func TestComponentsNeverOverwritten(t *testing.T) {
	e := newEnv(t)
	f := &faults{before: func(int) error { return nil }}
	s := e.open("", f.option())
	ctx := context.Background()
	first := makeComponents(1100, 0)
	added, err := s.PutNewComponents(ctx, first)
	if err != nil || added != 1100 {
		t.Fatalf("PutNewComponents(1100 new) = %d, %v", added, err)
	}
	if commits, _ := f.counts(); commits != 3 {
		t.Errorf("1100 components took %d commits, want 3", commits)
	}
	// The same keys with other vectors, and 4 new keys.
	second := append(makeComponents(1100, 1), makeComponents(1104, 1)[1100:]...)
	added, err = s.PutNewComponents(ctx, second)
	if err != nil || added != 4 {
		t.Fatalf("PutNewComponents(1100 stored, 4 new) = %d, %v; want 4", added, err)
	}
	got, err := s.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(first), second[1100:]...)
	sortComps(want)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("components after the second write: %d, want the %d first written plus 4 new, unchanged", len(got), len(want))
	}
	// Keys that need escaping, and contradicting duplicates.
	odd := []features.Component{
		features.DeriveComponent(features.ComponentKey{Exercise: "a/b%2F", ProblemType: "", Correct: true}),
		features.DeriveComponent(features.ComponentKey{Exercise: "a", ProblemType: "b/%", Correct: false}),
	}
	if added, err := s.PutNewComponents(ctx, odd); err != nil || added != 2 {
		t.Fatalf("PutNewComponents(odd keys) = %d, %v", added, err)
	}
	if got, _ := s.Components(ctx); len(got) != 1106 {
		t.Errorf("%d components, want 1106", len(got))
	}
	dup := []features.Component{first[0], first[0]}
	dup[1].Vector = slices.Clone(dup[1].Vector)
	dup[1].Vector[1]++
	if _, err := s.PutNewComponents(ctx, dup); err == nil {
		t.Error("PutNewComponents accepted one key with two vectors")
	}
}

func sortComps(c []features.Component) {
	slices.SortFunc(c, func(a, b features.Component) int {
		return strings.Compare(fmt.Sprint(a.Exercise, "\x00", a.ProblemType, "\x00", a.Correct), fmt.Sprint(b.Exercise, "\x00", b.ProblemType, "\x00", b.Correct))
	})
}

// TestComponentsRace stores a key from another client between this call's
// lookup and its insert: the other's vector stays, the rest are inserted.
func TestComponentsRace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := e.open("")
	comps := makeComponents(10, 0)
	theirs := makeComponents(1, 5)[0] // the first key, another vector
	f := &faults{before: func(n int) error {
		if n == 1 {
			if _, err := other.PutNewComponents(ctx, []features.Component{theirs}); err != nil {
				return err
			}
		}
		return nil
	}}
	s := e.open("", f.option())
	added, err := s.PutNewComponents(ctx, comps)
	if err != nil {
		t.Fatalf("PutNewComponents racing another writer: %v", err)
	}
	if added != 9 {
		t.Errorf("added %d, want 9", added)
	}
	if commits, _ := f.counts(); commits != 2 {
		t.Errorf("%d commits, want 2: the insert that met the other writer's key, then the rest", commits)
	}
	got, err := s.Components(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]features.Component{theirs}, comps[1:]...)
	sortComps(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("components after the race differ from the other writer's first one and ours")
	}
}

func TestPromote(t *testing.T) {
	e := newEnv(t)
	s := e.open("")
	ctx := context.Background()
	if _, err := s.Current(ctx); !errors.Is(err, store.ErrNoCurrent) {
		t.Fatalf("Current of an empty store = %v, want ErrNoCurrent", err)
	}
	if _, err := loadCurrent(ctx, s); !errors.Is(err, store.ErrNoCurrent) {
		t.Fatalf("LoadCurrent of an empty store = %v, want ErrNoCurrent", err)
	}
	v1 := writeVersion(t, s, "v1", 5)
	info1, err := s.Version(ctx, "v1")
	if err != nil || info1.Status != store.StatusCurrent || info1.Promoted.IsZero() || info1.Written.IsZero() {
		t.Fatalf("Version(v1) = %+v, %v", info1, err)
	}
	if !reflect.DeepEqual(info1.Summary, makeSummary("v1", 5)) {
		t.Errorf("summary read back differs:\n%+v\n%+v", info1.Summary, makeSummary("v1", 5))
	}
	// Idempotent.
	if prev, err := s.Promote(ctx, "v1"); err != nil || prev != "v1" {
		t.Fatalf("Promote(current v1) = %q, %v; want v1, nil", prev, err)
	}
	if again, _ := s.Version(ctx, "v1"); !again.Promoted.Equal(info1.Promoted) {
		t.Error("promoting the current version again changed it")
	}

	// A second version.
	v2 := makeThetas("v2", 4, 9)
	if err := s.PutThetas(ctx, "v2", v2); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVersion(ctx, makeSummary("v2", 4), store.StatusStaged); err != nil {
		t.Fatal(err)
	}
	if cur, _ := s.Current(ctx); cur != "v1" {
		t.Fatalf("a staged version changed Current to %q", cur)
	}
	if prev, err := s.Promote(ctx, "v2"); err != nil || prev != "v1" {
		t.Fatalf("Promote(v2) = %q, %v; want v1", prev, err)
	}
	for id, want := range map[string]string{"v1": store.StatusStaged, "v2": store.StatusCurrent} {
		if info, err := s.Version(ctx, id); err != nil || info.Status != want {
			t.Errorf("after Promote(v2): %s is %q (%v), want %q", id, info.Status, err, want)
		}
	}
	m, err := loadCurrent(ctx, s)
	if err != nil || m.Version != "v2" || len(m.Thetas) != 4 || !slices.Equal(m.Thetas[v2[2].Exercise], v2[2].Thetas) {
		t.Fatalf("LoadCurrent = %+v, %v", m, err)
	}
	if m.Components.Len() != 8 {
		t.Errorf("LoadCurrent: %d components, want 8", m.Components.Len())
	}
	if _, ok := m.Predict(nil, v2[0].Exercise); !ok {
		t.Error("the loaded model does not predict")
	}

	// Rewriting the current version's summary keeps it current.
	if err := s.PutVersion(ctx, makeSummary("v2", 4), store.StatusStaged); err != nil {
		t.Fatal(err)
	}
	if info, _ := s.Version(ctx, "v2"); info.Status != store.StatusCurrent {
		t.Errorf("PutVersion(staged) on the current version made it %q", info.Status)
	}

	// Refusals.
	if _, err := s.Promote(ctx, "v9"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Promote(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.Reject(ctx, "v2", "current"); !errors.Is(err, store.ErrIsCurrent) {
		t.Errorf("Reject(current) = %v, want ErrIsCurrent", err)
	}
	if err := s.PutVersion(ctx, makeSummary("v2", 4), store.StatusRejected); !errors.Is(err, store.ErrIsCurrent) {
		t.Errorf("PutVersion(current, rejected) = %v, want ErrIsCurrent", err)
	}
	if err := s.PutVersion(ctx, makeSummary("v3", 4), store.StatusCurrent); err == nil {
		t.Error("PutVersion accepted status current")
	}
	if err := s.Reject(ctx, "v9", "?"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Reject(unknown) = %v, want ErrNotFound", err)
	}
	if err := s.Reject(ctx, "v1", "AUC fell"); err != nil {
		t.Fatal(err)
	}
	info, _ := s.Version(ctx, "v1")
	if info.Status != store.StatusRejected || info.Reason != "AUC fell" || info.Rejected.IsZero() {
		t.Errorf("after Reject: %+v", info)
	}
	if _, err := s.Promote(ctx, "v1"); !errors.Is(err, store.ErrRejected) {
		t.Errorf("Promote(rejected) = %v, want ErrRejected", err)
	}
	if cur, _ := s.Current(ctx); cur != "v2" {
		t.Errorf("Current = %q after refusals, want v2", cur)
	}
	// A version without thetas.
	if err := s.PutVersion(ctx, makeSummary("v4", 4), store.StatusStaged); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Promote(ctx, "v4"); !errors.Is(err, store.ErrIncomplete) {
		t.Errorf("Promote(no thetas) = %v, want ErrIncomplete", err)
	}
	versions, err := s.Versions(ctx)
	if err != nil || len(versions) != 3 {
		t.Errorf("Versions = %d, %v; want v1, v2, v4", len(versions), err)
	}
	_ = v1
}

// dump returns every entity of the store's kinds in a namespace.
func dump(t *testing.T, project, ns string) map[string]datastore.PropertyList {
	t.Helper()
	ctx := context.Background()
	c, err := datastore.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out := map[string]datastore.PropertyList{}
	for _, kind := range []string{store.KindVersion, store.KindSummary, store.KindThetas, store.KindComponent, store.KindCurrent} {
		var ents []datastore.PropertyList
		keys, err := c.GetAll(ctx, datastore.NewQuery(kind).Namespace(ns), &ents)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			// The order of the properties is not the entity's.
			slices.SortFunc(ents[i], func(a, b datastore.Property) int { return strings.Compare(a.Name, b.Name) })
			out[k.String()] = ents[i]
		}
	}
	return out
}

func TestRerunIdentical(t *testing.T) {
	e := newEnv(t)
	s := e.open("ns1")
	writeVersion(t, s, "v1", 700)
	before := dump(t, e.project, "ns1")
	if len(before) != 1+1+700+8+1 { // the version, its summary's one piece, the thetas, components, current
		t.Fatalf("%d entities, want %d", len(before), 1+1+700+8+1)
	}
	writeVersion(t, s, "v1", 700)
	after := dump(t, e.project, "ns1")
	if !reflect.DeepEqual(before, after) {
		for k, v := range after {
			if !reflect.DeepEqual(before[k], v) {
				t.Errorf("%s changed:\n%v\n%v", k, before[k], v)
				break
			}
		}
		t.Fatal("rerunning the same writes changed entities")
	}
}

func TestNamespaces(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.open("a"), e.open("b")
	writeVersion(t, a, "v1", 3)
	if _, err := b.Current(ctx); !errors.Is(err, store.ErrNoCurrent) {
		t.Errorf("namespace b: Current = %v, want ErrNoCurrent", err)
	}
	if _, err := b.Version(ctx, "v1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("namespace b: Version(v1) = %v, want ErrNotFound", err)
	}
	if th, err := b.Thetas(ctx, "v1"); err != nil || len(th) != 0 {
		t.Errorf("namespace b: %d thetas of v1 (%v)", len(th), err)
	}
	if c, err := b.Components(ctx); err != nil || len(c) != 0 {
		t.Errorf("namespace b: %d components (%v)", len(c), err)
	}
	if th, err := a.Thetas(ctx, "v1"); err != nil || len(th) != 3 {
		t.Errorf("namespace a: %d thetas of v1 (%v)", len(th), err)
	}
	if n := len(dump(t, e.project, "")); n != 0 {
		t.Errorf("the default namespace holds %d entities", n)
	}
}

// loadCurrent loads the current version as kmpredict does: its records,
// made a model.
func loadCurrent(ctx context.Context, s *store.Store) (*predict.Model, error) {
	r, err := s.CurrentRecords(ctx)
	if err != nil {
		return nil, err
	}
	return predict.FromRecords(r)
}
