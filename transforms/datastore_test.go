package transforms

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/kmtrain/knowledgemodel/evaluate"
	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/internal/dsemulator"
	"github.com/kmtrain/knowledgemodel/internal/testutil"
	"github.com/kmtrain/knowledgemodel/model"
	"github.com/kmtrain/knowledgemodel/store"
)

// testVersion is a one-exercise version whose gate, if any, compared it
// with current.
func testVersion(id string, gate *model.Gate) model.Version {
	th := model.ExerciseThetas{Exercise: "ex", Thetas: make([]float64, features.NumFeatures), Rows: 10}
	return model.Version{
		Summary: model.Summary{Version: id, Input: "test", ExercisesTrained: 1, Gate: gate, InputCounts: model.InputCounts{LogsRead: 10}},
		Thetas:  []model.ExerciseThetas{th},
	}
}

// TestConcurrentRunsPromote is two runs that gated their versions against
// the same current version and write them at the same time: one becomes
// current, the other stays staged with the reason in its history, and
// neither run fails.
func TestConcurrentRunsPromote(t *testing.T) {
	project := dsemulator.Start(t).Use(t)
	ctx := context.Background()
	ds := Datastore{Project: project, Promote: true}
	if err := writeDatastore(ctx, ds, testVersion("base", nil)); err != nil {
		t.Fatal(err)
	}
	passed := &model.Gate{CurrentVersion: "base", Passed: true, Reason: "better"}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, id := range []string{"a", "b"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = writeDatastore(ctx, ds, testVersion(id, passed))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("a run failed: %v", err)
	}
	st, err := store.Open(ctx, project, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cur, err := st.CurrentRecord(ctx)
	if err != nil {
		t.Fatal(err)
	}
	winner, loser := "a", "b"
	if cur.Version == "b" {
		winner, loser = "b", "a"
	}
	if cur.Version != winner || cur.Previous != "base" {
		t.Fatalf("KnowledgeModelCurrent %+v: want a or b, replacing base", cur)
	}
	w, err := st.Version(ctx, winner)
	if err != nil {
		t.Fatal(err)
	}
	if last := w.History[len(w.History)-1]; last.To != store.StatusCurrent || last.By != "kmtrain run "+winner ||
		last.Why != "replaces base; gate passed: better" {
		t.Errorf("winner's last change %+v", last)
	}
	l, err := st.Version(ctx, loser)
	if err != nil {
		t.Fatal(err)
	}
	last := l.History[len(l.History)-1]
	if l.Status != store.StatusStaged || last.To != store.StatusStaged || last.By != "kmtrain run "+loser ||
		!strings.Contains(last.Why, "changed from base to "+winner+" after the gate compared against base") {
		t.Errorf("loser: status %s, last change %+v; want staged, refused", l.Status, last)
	}
}

// TestGateOfMixedCurrents: workers that re-scored against different current
// versions (it changed while they loaded it) make a comparison of no one
// version, which fails the gate.
func TestGateOfMixedCurrents(t *testing.T) {
	partial := func(current string) EvalPartial {
		acc := evaluate.NewAccumulator(BaselineCorrectRate, BaselineNoKnowledge)
		if err := acc.Add(evaluate.Attempt{Exercise: "ex", Correct: true, P: 0.7, HasP: true, Baselines: []float64{0.5, 0.6}}); err != nil {
			t.Fatal(err)
		}
		p := EvalPartial{Acc: acc, Currents: []string{current}}
		if err := p.Cmp.Add(true, 0.7, 0.6); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name     string
		currents []string
		promote  bool
		passed   bool
		reason   string // a part of it; "" for no gate
	}{
		{"one current", []string{"v1", "v1"}, true, true, "for v1 on 2 held-out attempts"},
		{"nothing current", []string{"", ""}, true, true, "no version is current"},
		{"two currents", []string{"v1", "v2", "v1"}, true, false, "workers compared with v1 and v2"},
		{"none, then one", []string{"", "v1"}, true, false, "workers compared with none and v1"},
		{"staged run: no gate", []string{""}, false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ps []EvalPartial
			for _, c := range tc.currents {
				ps = append(ps, partial(c))
			}
			fn := &writeModelFn{Out: ModelOutput{Datastore: &Datastore{Project: "p", Promote: tc.promote}, MaxRegression: 0.002, Evaluated: true}}
			v := testVersion("new", nil)
			if err := fn.evaluation(&v, testutil.Iter(ps...)); err != nil {
				t.Fatal(err)
			}
			g := v.Summary.Gate
			if tc.reason == "" {
				if g != nil {
					t.Errorf("gate %+v: want none", g)
				}
				return
			}
			if g == nil || g.Passed != tc.passed || !strings.Contains(g.Reason, tc.reason) {
				t.Errorf("gate %+v: want passed %t, saying %q", g, tc.passed, tc.reason)
			}
		})
	}
}

// TestForcedPromotion: --force_promote promotes a version whatever its gate
// compared it with: nothing (no held-out student had logs), a version since
// replaced, or several.
func TestForcedPromotion(t *testing.T) {
	project := dsemulator.Start(t).Use(t)
	ctx := context.Background()
	ds := Datastore{Project: project, Promote: true}
	if err := writeDatastore(ctx, ds, testVersion("base", nil)); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, project, "")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i, currents := range [][]string{nil, {"gone"}, {"base", ""}} {
		id := fmt.Sprintf("forced%d", i)
		g := model.NewGate(evaluate.Comparison{}, currents, len(currents) > 0, nil, 0.002, true)
		if !g.Forced {
			t.Fatalf("gate %+v: want it failed and forced", g)
		}
		if err := writeDatastore(ctx, ds, testVersion(id, g)); err != nil {
			t.Fatal(err)
		}
		cur, err := st.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Version(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if last := info.History[len(info.History)-1]; cur != id || !strings.Contains(last.Why, "gate failed, forced: ") {
			t.Errorf("gate compared with %q: current %q, last change %+v; want %s current, forced", currents, cur, last, id)
		}
	}
}
