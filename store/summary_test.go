package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/datastore"
	pb "cloud.google.com/go/datastore/apiv1/datastorepb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/store"
)

// sizes is a gRPC interceptor that records the largest entity (in
// store.EntitySize) and the largest request the client commits.
type sizes struct {
	mu                sync.Mutex
	entity, request   int
	entityKind        string
	commits, entities int
}

func (s *sizes) option() option.ClientOption {
	return option.WithGRPCDialOption(grpc.WithUnaryInterceptor(
		func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if r, ok := req.(*pb.CommitRequest); ok {
				s.mu.Lock()
				s.commits++
				for _, m := range r.Mutations {
					if e := m.GetUpsert(); e != nil {
						s.entities++
						if n := store.EntitySize(e); n > s.entity {
							s.entity, s.entityKind = n, e.Key.Path[len(e.Key.Path)-1].Kind
						}
					}
				}
				s.mu.Unlock()
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		}))
}

func ptr[T any](v T) *T { return &v }

// largeSummary is the summary of a run that trained n exercises, skipped
// n/5 and evaluated all of them with the model and two baselines, as
// kmtrain writes it: ~7 KB per exercise.
func largeSummary(version string, n int) model.Summary {
	r := rand.New(rand.NewPCG(uint64(n), 3))
	metrics := func() evaluate.Metrics {
		m := evaluate.Metrics{Attempts: 100 + r.Int64N(1000), LogLikelihood: ptr(-r.Float64()), AUC: ptr(r.Float64()), Accuracy: ptr(r.Float64())}
		m.Correct = m.Attempts / 2
		for b := range 10 {
			m.Calibration = append(m.Calibration, evaluate.Bin{Lower: float64(b) / 10, Upper: float64(b+1) / 10,
				Attempts: r.Int64N(100), MeanPredicted: ptr(r.Float64()), ObservedRate: ptr(r.Float64())})
		}
		return m
	}
	eval := func() evaluate.Evaluation {
		e := evaluate.Evaluation{Overall: metrics(), Unweighted: evaluate.ExerciseMeans{Exercises: n, LogLikelihood: ptr(-0.6), AUC: ptr(0.7), AUCExercises: n}}
		for i := range n {
			e.Exercises = append(e.Exercises, evaluate.ExerciseMetrics{Exercise: fmt.Sprintf("exercise_%04d", i), Metrics: metrics()})
		}
		return e
	}
	s := makeSummary(version, n)
	s.ExercisesSkipped = n / 5
	s.Skipped, s.SkipReasons = nil, map[string]int{model.SkipTooFewRows: n / 5}
	for i := range n / 5 {
		s.Skipped = append(s.Skipped, model.SkippedExercise{Exercise: fmt.Sprintf("rare_exercise_%04d", i), Rows: i % 100, Reason: model.SkipTooFewRows})
	}
	s.Holdout = "0.1 of the students, by a hash of the user id"
	s.Evaluation = &evaluate.Report{Evaluation: eval(),
		Baselines: map[string]evaluate.Evaluation{"correct_rate": eval(), "no_knowledge": eval()}}
	s.Evaluation.NoThetas.Attempts = int64(n)
	for i := range n / 5 {
		s.Evaluation.NoThetas.Exercises = append(s.Evaluation.NoThetas.Exercises, evaluate.ExerciseCount{Exercise: fmt.Sprintf("rare_exercise_%04d", i), Attempts: 5})
	}
	s.Gate = &model.Gate{Comparison: evaluate.Comparison{Attempts: 1000, New: -0.55, Current: -0.56, Delta: 0.01},
		MaxRegression: 0.002, Passed: true, Reason: "first version"}
	return s
}

// roundTrip is s as JSON gives it back: what a reader of any sink gets.
func roundTrip(t *testing.T, s model.Summary) model.Summary {
	t.Helper()
	j, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var out model.Summary
	if err := json.Unmarshal(j, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestProductionSizedVersion writes and reads back a version of 5,000
// exercises the way a run does, on the emulator, which would take the
// whole summary in one entity where Datastore refuses it. Every entity
// must be within Datastore's limits (the Store checks), and every reader
// must get the same model.Summary.
func TestProductionSizedVersion(t *testing.T) {
	const n = 5000
	e := newEnv(t)
	rec := &sizes{}
	s := e.open("prod", rec.option())
	ctx := context.Background()
	start := time.Now()

	sum := largeSummary("v1", n)
	j, _ := json.Marshal(sum)
	// The layout before: the whole summary in the version entity.
	whole := entity(nameKey("prod", store.KindVersion, "v1"), "summary", str(string(j), false))
	if err := store.CheckEntity(whole); !errors.Is(err, store.ErrLimit) {
		t.Fatalf("a version entity holding the %d-byte summary: %v, want ErrLimit", len(j), err)
	}

	comps := makeComponents(200, 0)
	if _, err := s.PutNewComponents(ctx, comps); err != nil {
		t.Fatal(err)
	}
	phase := time.Now()
	th := makeThetas("v1", n, 1)
	if err := s.PutThetas(ctx, "v1", th); err != nil {
		t.Fatal(err)
	}
	t.Logf("PutThetas: %v", time.Since(phase))
	phase = time.Now()
	if err := s.PutVersion(ctx, sum, store.StatusStaged); err != nil {
		t.Fatal(err)
	}
	t.Logf("PutVersion: %v", time.Since(phase))
	phase = time.Now()
	if _, err := s.Promote(ctx, "v1"); err != nil {
		t.Fatal(err)
	}
	t.Logf("Promote: %v", time.Since(phase))
	written := time.Since(start)

	phase = time.Now()
	want := roundTrip(t, sum)
	info, err := s.Version(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	if info.Status != store.StatusCurrent || !reflect.DeepEqual(info.Summary, want) {
		t.Fatalf("Version(v1): status %s, summary equal to the one written: %v", info.Status, reflect.DeepEqual(info.Summary, want))
	}
	t.Logf("Version: %v", time.Since(phase))
	phase = time.Now()
	// What kmpredict, kmmonitor and the promotion gate load.
	m, err := loadCurrent(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != "v1" || len(m.Thetas) != n || m.Components.Len() != len(comps) {
		t.Fatalf("LoadCurrent: version %s, %d thetas, %d components; want v1, %d, %d", m.Version, len(m.Thetas), m.Components.Len(), n, len(comps))
	}
	for _, x := range th {
		if !reflect.DeepEqual(m.Thetas[x.Exercise], x.Thetas) {
			t.Fatalf("LoadCurrent: the thetas of %s differ from those written", x.Exercise)
		}
	}
	t.Logf("LoadCurrent: %v", time.Since(phase))
	// The version entity itself: the headline, bounded.
	c, err := datastore.NewClient(ctx, e.project)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var head datastore.PropertyList
	vk := datastore.NameKey(store.KindVersion, "v1", nil)
	vk.Namespace = "prod"
	if err := c.Get(ctx, vk, &head); err != nil {
		t.Fatal(err)
	}
	props := map[string]any{}
	for _, p := range head {
		props[p.Name] = p.Value
	}
	for name, want := range map[string]any{"exercises_trained": int64(n), "eval_attempts": sum.Evaluation.Overall.Attempts,
		"eval_auc": *sum.Evaluation.Overall.AUC, "gate_passed": true, "summary_bytes": int64(len(j)), "status": store.StatusCurrent} {
		if props[name] != want {
			t.Errorf("version entity: %s = %v, want %v", name, props[name], want)
		}
	}
	if _, ok := props["summary"]; ok {
		t.Error("the version entity holds the summary")
	}
	chunks := len(keysOf(t, e.project, "prod", store.KindSummary))
	if want := (len(j) + 989_999) / 990_000; chunks != want {
		t.Errorf("%d summary pieces, want %d", chunks, want)
	}
	t.Logf("%d exercises: summary %d bytes in %d pieces; %d entities in %d commits, the largest a %s of %d bytes, its limit %d; written in %v, all %v",
		n, len(j), chunks, rec.entities, rec.commits, rec.entityKind, rec.entity, store.MaxEntityBytes, written.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if rec.entity > store.MaxEntityBytes || rec.entity < 900_000 {
		t.Errorf("the largest entity written is %d bytes: want a summary piece near, and under, %d", rec.entity, store.MaxEntityBytes)
	}
}

// keysOf returns the keys of a kind's entities in a namespace.
func keysOf(t *testing.T, project, ns, kind string) []*datastore.Key {
	t.Helper()
	c, err := datastore.NewClient(context.Background(), project)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	keys, err := c.GetAll(context.Background(), datastore.NewQuery(kind).Namespace(ns).KeysOnly(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

// TestSummaryRewritten rewrites a version with summaries of other sizes:
// each reads back whole, and the pieces of the one replaced are removed.
func TestSummaryRewritten(t *testing.T) {
	e := newEnv(t)
	s := e.open("")
	ctx := context.Background()
	for _, n := range []int{400, 3, 200, 200} {
		sum := largeSummary("v1", n)
		if err := s.PutVersion(ctx, sum, store.StatusStaged); err != nil {
			t.Fatal(err)
		}
		info, err := s.Version(ctx, "v1")
		if err != nil || !reflect.DeepEqual(info.Summary, roundTrip(t, sum)) {
			t.Fatalf("%d exercises: Version = %v; the summary read back differs", n, err)
		}
		j, _ := json.Marshal(sum)
		want := (len(j) + 989_999) / 990_000
		if keys := keysOf(t, e.project, "", store.KindSummary); len(keys) != want {
			t.Errorf("%d exercises, %d bytes: %d summary pieces stored, want %d", n, len(j), len(keys), want)
		}
		t.Logf("%d exercises: %d bytes, %d pieces", n, len(j), want)
		if vs, err := s.Versions(ctx); err != nil || len(vs) != 1 || !reflect.DeepEqual(vs[0].Summary, info.Summary) {
			t.Fatalf("%d exercises: Versions = %d, %v; want v1 as Version reads it", n, len(vs), err)
		}
	}
}

// TestSummaryUnchunked reads a version written before the summary was cut
// into pieces (the JSON in the entity's summary property), promotes it
// (which keeps the summary), and rewrites it in the new layout.
func TestSummaryUnchunked(t *testing.T) {
	e := newEnv(t)
	s := e.open("")
	ctx := context.Background()
	sum := makeSummary("old", 3)
	j, _ := json.Marshal(sum)
	c, err := datastore.NewClient(ctx, e.project)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	old := datastore.PropertyList{
		{Name: "version", Value: "old"}, {Name: "created", Value: sum.Created}, {Name: "input", Value: sum.Input, NoIndex: true},
		{Name: "exercises_trained", Value: int64(3), NoIndex: true}, {Name: "summary", Value: string(j), NoIndex: true},
		{Name: "status", Value: store.StatusStaged}, {Name: "written", Value: time.Now()},
	}
	if _, err := c.Put(ctx, datastore.NameKey(store.KindVersion, "old", nil), &old); err != nil {
		t.Fatal(err)
	}
	if err := s.PutThetas(ctx, "old", makeThetas("old", 3, 1)); err != nil {
		t.Fatal(err)
	}
	want := roundTrip(t, sum)
	if info, err := s.Version(ctx, "old"); err != nil || !reflect.DeepEqual(info.Summary, want) {
		t.Fatalf("Version(an unchunked version) = %v; summary equal: %v", err, reflect.DeepEqual(info.Summary, want))
	}
	if _, err := s.Promote(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	if info, err := s.Version(ctx, "old"); err != nil || info.Status != store.StatusCurrent || !reflect.DeepEqual(info.Summary, want) {
		t.Fatalf("after Promote: %v, %+v", err, info)
	}
	if err := s.PutVersion(ctx, sum, store.StatusStaged); err != nil {
		t.Fatal(err)
	}
	var raw datastore.PropertyList
	if err := c.Get(ctx, datastore.NameKey(store.KindVersion, "old", nil), &raw); err != nil {
		t.Fatal(err)
	}
	for _, p := range raw {
		if p.Name == "summary" {
			t.Error("the rewritten version entity still holds the summary")
		}
	}
	if info, err := s.Version(ctx, "old"); err != nil || info.Status != store.StatusCurrent || !reflect.DeepEqual(info.Summary, want) {
		t.Fatalf("after the rewrite: %v, status %s", err, info.Status)
	}
}

func TestSummaryCountsCorrupt(t *testing.T) {
	e := newEnv(t)
	s := e.open("")
	ctx := context.Background()
	c, err := datastore.NewClient(ctx, e.project)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, counts := range [][2]int64{{-1, 10}, {1, -5}, {1 << 50, 10}, {1, 1 << 50}} {
		bad := datastore.PropertyList{
			{Name: "version", Value: "bad"}, {Name: "status", Value: store.StatusStaged}, {Name: "written", Value: time.Now()},
			{Name: "summary_chunks", Value: counts[0], NoIndex: true}, {Name: "summary_bytes", Value: counts[1], NoIndex: true},
			{Name: "summary_sha256", Value: strings.Repeat("ab", 32), NoIndex: true},
		}
		if _, err := c.Put(ctx, datastore.NameKey(store.KindVersion, "bad", nil), &bad); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Version(ctx, "bad"); err == nil || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("Version of a version entity saying %d pieces of %d bytes: %v, want it corrupt", counts[0], counts[1], err)
		}
		// Writing the version again repairs it: the old pieces, unknown,
		// are left alone.
		if err := s.PutVersion(ctx, makeSummary("bad", 1), store.StatusStaged); err != nil {
			t.Errorf("rewriting a version entity saying %d pieces of %d bytes: %v", counts[0], counts[1], err)
		}
	}
}
