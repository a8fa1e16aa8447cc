package features_test

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/kmtrain/knowledgemodel/features"
)

func TestParseFeatureSet(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want features.FeatureSet
		dim  int
		ok   bool
	}{
		{"", features.Khan2014, 107, true},
		{"khan2014", features.Khan2014, 107, true},
		{"extended", features.Extended, 116, true},
		{"features.Extended", 0, 0, false},
		{"khan", 0, 0, false},
	} {
		got, err := features.ParseFeatureSet(tc.in)
		if (err == nil) != tc.ok || (tc.ok && (got != tc.want || got.Dim() != tc.dim || len(got.Names()) != tc.dim)) {
			t.Errorf("features.ParseFeatureSet(%q) = %v (dim %d), %v", tc.in, got, got.Dim(), err)
		}
		if tc.ok && tc.in != "" && got.String() != tc.in {
			t.Errorf("%q prints as %q", tc.in, got)
		}
	}
	names := features.Extended.Names()
	if names[7] != features.ExtraNames[0] || names[16] != "ks_0" || names[6] != "percent_correct" {
		t.Errorf("extended names out of order: %v", names[:16])
	}
}

// TestExtras follows one student through a short history and checks each
// extended feature by hand.
func TestExtras(t *testing.T) {
	t0 := time.Date(2014, 1, 2, 3, 4, 5, 0, time.UTC)
	logs := []features.ProblemLog{
		{User: "u", TimeDone: t0, Exercise: "a", ProblemType: "p", ProblemNumber: 1, Correct: true},
		{User: "u", TimeDone: t0.Add(10 * time.Second), Exercise: "b", ProblemType: "p", ProblemNumber: 1, Correct: false},
		{User: "u", TimeDone: t0.Add(70 * time.Second), Exercise: "a", ProblemType: "q", ProblemNumber: 2, Correct: true},
	}
	ln := math.Log1p
	w, keep := 0.1, 0.9 // recent_correct's weights, as float64
	r0 := features.RecentSeed
	r1 := w*1 + keep*r0 // after a correct answer
	r2 := w*0 + keep*r1 // after a wrong one
	want := [][features.NumStudentExtras]float64{
		{0, 0, 0, 0, 0, 1, 0, r0},                       // nothing before
		{ln(1), ln(1), 0, 0, 0, 1, 1, r1},               // first at b; previous (a) correct
		{ln(2), ln(1), ln(1), ln(1), ln(70), 0, -1, r2}, // a again after 70 s; previous (b) wrong
	}
	c, _ := features.NewComponents(nil)
	var got [][features.NumStudentExtras]float64
	err := features.Replay(slices.Clone(logs), c, features.ReplayOptions{Window: features.AllProblems, Features: features.Extended}, func(r *features.Row) {
		got = append(got, r.Extras)
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("extras:\n got %v\nwant %v", got, want)
	}
	// Khan's rows leave them zero.
	features.Replay(slices.Clone(logs), c, features.ReplayOptions{Window: features.AllProblems}, func(r *features.Row) {
		if r.Extras != [features.NumStudentExtras]float64{} {
			t.Errorf("khan2014 row has extras %v", r.Extras)
		}
	})
}

// TestExpandMatchesFeaturesOf checks that a compact extended row expands to
// exactly what a student computes before the attempt, bit for bit.
func TestExpandMatchesFeaturesOf(t *testing.T) {
	byUser := readConformanceLogs(t)
	c := readConformanceComponents(t)
	x, y := make([]float64, features.Extended.Dim()), make([]float64, features.Extended.Dim())
	rows := 0
	for _, ls := range byUser {
		features.SortLogs(ls)
		s := features.NewStudent(c)
		i := 0
		err := features.Replay(slices.Clone(ls), c, features.ReplayOptions{Window: features.AllProblems, Features: features.Extended, KeepGaps: true}, func(r *features.Row) {
			var vs [][]float64
			for _, k := range r.Knowledge {
				vs = append(vs, c.Vector(k))
			}
			features.Extended.Expand(&r.History, 0.25, r.Extras[:], vs, x)
			s.FeaturesOf(features.Extended, ls[i], 0.25, y)
			if !slices.Equal(x, y) {
				t.Fatalf("row %d of %s: Expand %v, FeaturesOf %v", i, r.User, x[:16], y[:16])
			}
			var k [features.NumFeatures]float64
			features.Khan2014.Expand(&r.History, 0, nil, vs, k[:])
			if !slices.Equal(k[:], r.X[:]) {
				t.Fatalf("row %d of %s: features.Khan2014.Expand differs from the replay's row", i, r.User)
			}
			s.Apply(ls[i])
			i++
			rows++
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if rows == 0 {
		t.Fatal("no rows")
	}
}

func TestDifficultyCounts(t *testing.T) {
	var c features.DifficultyCounts
	// Problem type "hard": 1 of 4 right, by students of folds 0 and 1;
	// "easy": 3 of 3, fold 2.
	c.Add("hard", 0, true)
	c.Add("hard", 0, false)
	c.Add("hard", 1, false)
	c.Add("hard", 1, false)
	for range 3 {
		c.Add("easy", 2, true)
	}
	logit := func(p float64) float64 { return math.Log(p / (1 - p)) }
	rate := (4 + 0.5) / (7 + 1.0)
	byType, unseen := c.Table()
	close := func(a, b float64) bool { return math.Abs(a-b) < 1e-12 }
	if !close(byType["hard"], logit((1+5*rate)/(4+5))) || !close(byType["easy"], logit((3+5*rate)/(3+5))) || !close(unseen, logit(rate)) {
		t.Errorf("table %v, unseen %v", byType, unseen)
	}
	// Out of fold 0: "hard" is 0 of 2 (fold 1's), the exercise 3 of 5.
	rate0 := (3 + 0.5) / (5 + 1.0)
	if got := c.OutOfFold("hard", 0); !close(got, logit((0+5*rate0)/(2+5))) {
		t.Errorf("hard out of fold 0 = %v", got)
	}
	// Out of fold 2, "easy" has no answers left: the exercise's rate.
	rate2 := (1 + 0.5) / (4 + 1.0)
	if got := c.OutOfFold("easy", 2); !close(got, logit(rate2)) {
		t.Errorf("easy out of fold 2 = %v, want %v", got, logit(rate2))
	}
	if got := c.OutOfFold("never", 3); !close(got, logit(rate)) {
		t.Errorf("unseen type out of fold 3 = %v, want %v", got, logit(rate))
	}
	for _, u := range []string{"", "a", "student-42"} {
		if f := features.UserFold(u); f >= features.DifficultyFolds || f != features.UserFold(u) {
			t.Errorf("features.UserFold(%q) = %d", u, f)
		}
	}
}
