package train_test

import (
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
	"github.com/kmtrain/knowledgemodel/train"
)

// loadRows reads a training-rows CSV (kmtrain --export_rows) into one
// Dataset per exercise.
func loadRows(t testing.TB, path string) map[string]*train.Dataset {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	by := map[string]*train.Dataset{}
	err = features.ReadRowsCSV(f, func(r features.Row) error {
		d := by[r.Exercise]
		if d == nil {
			d = train.NewDataset(features.NumFeatures, 256)
			by[r.Exercise] = d
		}
		d.Add(r.X[:], r.Correct)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return by
}

// TestL2SelectionRealData measures FitAuto on real rows: its cost against
// the fixed-L2 fit, the values it picks, and, given held-out rows, the
// held-out log-likelihood of the fixed, selected and 6-feature models.
//
//	KM_L2_ROWS=/tmp/a/rows.csv KM_L2_TEST=/tmp/atest/rows.csv \
//	  go test ./train -run RealData -v -timeout 20m
//
// KM_L2_GROUP (default 100) is L2Selection.Group, KM_L2_PATIENCE its
// Patience, KM_L2_FOLDTOL its FoldTolerance, KM_L2_MIN (default 100) the
// fewest rows an exercise needs; KM_L2_SINGLE=1 also fits one L2 for all
// features with FitAutoL2.
func TestL2SelectionRealData(t *testing.T) {
	path := os.Getenv("KM_L2_ROWS")
	if path == "" {
		t.Skip("KM_L2_ROWS not set")
	}
	envInt := func(name string, def int) int {
		if v := os.Getenv(name); v != "" {
			var n int
			fmt.Sscan(v, &n)
			return n
		}
		return def
	}
	sel := train.L2Selection{Group: envInt("KM_L2_GROUP", features.KnowledgeDim), Patience: envInt("KM_L2_PATIENCE", 0)}
	if v := os.Getenv("KM_L2_FOLDTOL"); v != "" {
		fmt.Sscan(v, &sel.FoldTolerance)
	}
	if v := os.Getenv("KM_L2_GRID"); v != "" {
		for _, f := range strings.Split(v, ",") {
			var x float64
			fmt.Sscan(f, &x)
			sel.Grid = append(sel.Grid, x)
		}
	}
	single := os.Getenv("KM_L2_SINGLE") != ""
	minRows := envInt("KM_L2_MIN", 100)
	trainRows := loadRows(t, path)
	var test map[string]*train.Dataset
	if p := os.Getenv("KM_L2_TEST"); p != "" {
		test = loadRows(t, p)
	}
	var names []string
	for name, d := range trainRows {
		if d.Len() >= minRows {
			names = append(names, name)
		}
	}
	sort.Strings(names)

	s := train.DefaultSettings()
	objective := func(d *train.Dataset, p train.Penalty) *train.Objective {
		return &train.Objective{Data: d, Penalty: p, Workers: 2, Share: train.ShareAuto}
	}
	fixed := train.Penalty{L2: train.DefaultL2}
	base := train.Penalty{L2: train.DefaultL2, Tail: features.KnowledgeDim, TailL2: math.Inf(1)}
	auto := train.Penalty{L2: train.DefaultL2, Tail: features.KnowledgeDim}

	type model struct {
		name string
		ll   float64 // held-out log-likelihood sum
		dur  time.Duration
	}
	models := []*model{{name: "107 fixed l2=1e-3"}, {name: "6 fixed l2=1e-3"}, {name: "FitAuto"}, {name: "FitAuto baseline (6)"}, {name: "107 one l2 (FitAutoL2)"}}
	headPicks, tailPicks, singlePicks := map[float64]int{}, map[float64]int{}, map[float64]int{}
	var headDur, tailDur time.Duration
	headFits, tailFits, testRows, rows := 0, 0, 0, 0
	var lines []string
	for _, name := range names {
		d := trainRows[name]
		rows += d.Len()
		thetas := make([][]float64, len(models))
		t0 := time.Now()
		r, err := train.Fit(objective(d, fixed), s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		models[0].dur += time.Since(t0)
		thetas[0] = r.Thetas
		t0 = time.Now()
		if r, err = train.Fit(objective(d, base), s); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		models[1].dur += time.Since(t0)
		thetas[1] = r.Thetas

		t0 = time.Now()
		a, err := train.FitAuto(objective(d, auto), s, sel)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		models[2].dur += time.Since(t0)
		thetas[2], thetas[3] = a.Result.Thetas, a.Baseline.Thetas
		headDur += a.Head.Duration
		tailDur += a.Tail.Duration
		headFits += a.Head.Fits
		tailFits += a.Tail.Fits
		headPicks[a.Head.L2]++
		tailPicks[a.Tail.L2]++
		line := fmt.Sprintf("%-12.12s rows=%6d groups=%5d l2=%-6g ks_l2=%-6g fits=%2d+%2d sel=%.3f+%.3fs",
			name, d.Len(), a.Head.Groups, a.Head.L2, a.Tail.L2, a.Head.Fits, a.Tail.Fits, a.Head.Duration.Seconds(), a.Tail.Duration.Seconds())
		if single {
			t0 = time.Now()
			r, c, err := train.FitAutoL2(objective(d, fixed), s, sel)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			models[4].dur += time.Since(t0)
			thetas[4] = r.Thetas
			singlePicks[c.L2]++
			line += fmt.Sprintf(" one_l2=%-6g", c.L2)
		}
		if td := test[name]; td != nil {
			testRows += td.Len()
			n := float64(td.Len())
			line += fmt.Sprintf(" test=%5d", td.Len())
			for i, m := range models {
				if thetas[i] != nil {
					ll := -train.LogLoss(thetas[i], td) * n
					m.ll += ll
					line += fmt.Sprintf(" %.4f", ll/n)
				}
			}
		}
		for _, c := range []train.L2Choice{a.Head, a.Tail} {
			if c.Fallback != "" {
				line += " fallback: " + c.Fallback
			}
		}
		if testing.Verbose() {
			for _, c := range []train.L2Choice{a.Head, a.Tail} {
				var sc []string
				for i, v := range c.Scores {
					if !math.IsNaN(v) {
						sc = append(sc, fmt.Sprintf("%g:%.4f±%.4f", c.Grid[i], v, c.StdErrs[i]))
					}
				}
				line += "\n    " + strings.Join(sc, " ")
			}
		}
		lines = append(lines, line)
	}
	for _, l := range lines {
		t.Log(l)
	}
	dist := func(m map[float64]int) string {
		var ks []float64
		for k := range m {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		var out []string
		for _, k := range ks {
			out = append(out, fmt.Sprintf("%g:%d", k, m[k]))
		}
		return strings.Join(out, " ")
	}
	t.Logf("%+v: %d exercises, %d rows", sel, len(names), rows)
	t.Logf("picks: l2 %s; ks_l2 %s", dist(headPicks), dist(tailPicks))
	if single {
		t.Logf("one l2 picks %s", dist(singlePicks))
	}
	t.Logf("selection: 6-feature %.2fs (%d fold fits), KnowledgeState %.2fs (%d fold fits)", headDur.Seconds(), headFits, tailDur.Seconds(), tailFits)
	for _, m := range models {
		if m.dur == 0 && m.ll == 0 {
			continue
		}
		line := fmt.Sprintf("%-24s time %6.2fs", m.name, m.dur.Seconds())
		if testRows > 0 {
			line += fmt.Sprintf(" held-out LL/row %.5f over %d rows", m.ll/float64(testRows), testRows)
		}
		t.Log(line)
	}
}
